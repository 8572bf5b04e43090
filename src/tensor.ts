/**
 * Tensor: a shape, a dtype and contiguous storage on a device ('cpu', 'cuda', 'cuda-sim' (the CUDA kernels
 * run by the CPU simulator), or 'meta' for shape-only tensors with no storage). Tensors are immutable values; ops return new tensors. Release memory with
 * `dispose()` or `tidy()`; the garbage collector frees forgotten ones eventually.
 */
import { type DType, checkDType, decode } from './dtype.js';
import { HgcError, check, shapeStr } from './errors.js';
import { type NativeHandle, native } from './native.js';
import { trackTensor } from './scope.js';

/**
 * Where a tensor lives. 'cuda-sim' runs the CUDA kernels in the CPU simulator (slow; for tests and kernel
 * debugging without a GPU). 'meta' tensors have a shape and dtype but no data.
 */
export type Device = 'cpu' | 'cuda' | 'cuda-sim' | 'meta';

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** @internal Validates a shape given by a user: non-negative integers, at most 8 dims. */
export function checkShape(shape: unknown, what = 'shape'): number[] {
  check(Array.isArray(shape), 'SHAPE', () => `${what} must be an array of dimensions, got ${String(shape)}`);
  check(shape.length <= 8, 'SHAPE', () => `${what} ${shapeStr(shape)} has ${shape.length} dims; at most 8 are supported`);
  for (const d of shape) {
    check(Number.isInteger(d) && d >= 0, 'SHAPE', () => `${what} ${shapeStr(shape)} must hold non-negative integers`);
  }
  return [...(shape as number[])];
}

/** @internal Validates a device name. */
export function checkDevice(device: unknown): Device {
  check(device === 'cpu' || device === 'cuda' || device === 'cuda-sim' || device === 'meta', 'DEVICE',
    () => `unknown device ${JSON.stringify(device)} (expected cpu, cuda, cuda-sim or meta)`);
  return device as Device;
}

/**
 * An n-dimensional array: a shape, a dtype (f32, f16, bf16) and contiguous row-major storage on a device (none on
 * `meta`). Ops return new tensors; free storage with {@link Tensor.dispose} or a `tidy()` scope (the garbage
 * collector is only a safety net). Create tensors with `tensor`, `zeros`, `randn` and friends.
 */
export class Tensor {
  /** Marks tensors for duck-typed checks across package copies. */
  readonly isTensor = true;
  /** The dimensions, outermost first (frozen; [] for a scalar). */
  readonly shape: readonly number[];
  /** Element type of the storage; ops compute in f32 and return this dtype. */
  readonly dtype: DType;
  /** Where the storage lives ('meta': nowhere, shape and dtype only). */
  readonly device: Device;
  #handle: NativeHandle | null;
  #disposed = false;

  /** @internal Use the creation functions (`tensor`, `zeros`, `randn`, ...) instead. */
  constructor(shape: readonly number[], dtype: DType, device: Device, handle: NativeHandle | null) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.device = device;
    this.#handle = handle;
    trackTensor(this);
  }

  /** @internal Wraps a native handle whose shape the caller knows. */
  static fromHandle(handle: NativeHandle, shape: readonly number[], dtype: DType, device: Device): Tensor {
    return new Tensor(shape, dtype, device, handle);
  }

  /** @internal A storage-less tensor on the meta device. */
  static meta(shape: readonly number[], dtype: DType): Tensor {
    return new Tensor(shape, dtype, 'meta', null);
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** True after `dispose()`. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal The native handle; throws DISPOSED after dispose and DEVICE on meta tensors. */
  get handle(): NativeHandle {
    check(!this.#disposed, 'DISPOSED', () => `tensor ${shapeStr(this.shape)} ${this.dtype} was disposed`);
    if (this.#handle === null) {
      throw new HgcError('DEVICE', `tensor ${shapeStr(this.shape)} is on the meta device and has no data`);
    }
    return this.#handle;
  }

  /** @internal Throws DISPOSED if disposed (meta tensors included). */
  assertLive(what = 'tensor'): void {
    check(!this.#disposed, 'DISPOSED', () => `${what} ${shapeStr(this.shape)} ${this.dtype} was disposed`);
  }

  /** A copy of the data: Float32Array for f32, raw bit patterns in a Uint16Array for f16/bf16. */
  data(): Float32Array | Uint16Array {
    return native.toHost(this.handle);
  }

  /** A copy of the data as float values, whatever the dtype. */
  toFloat32(): Float32Array {
    return decode(this.data(), this.dtype);
  }

  /** A copy on `device` (always a new tensor, also when already there). */
  to(device: Device): Tensor {
    const d = checkDevice(device);
    this.assertLive();
    if (d === 'meta') return Tensor.meta(this.shape, this.dtype);
    check(this.device !== 'meta', 'DEVICE', () => `tensor ${shapeStr(this.shape)} is on the meta device and has no data to copy`);
    return Tensor.fromHandle(native.toDevice(this.handle, d), this.shape, this.dtype, d);
  }

  /** A converted copy in `dtype` (f16/bf16 round to nearest even). */
  cast(dtype: DType): Tensor {
    const d = checkDType(dtype, 'cast');
    this.assertLive();
    if (this.device === 'meta') return Tensor.meta(this.shape, d);
    if (d === this.dtype) return this.clone();
    return Tensor.fromHandle(native.cast(this.handle, d), this.shape, d, this.device);
  }

  /** A copy with its own storage. */
  clone(): Tensor {
    this.assertLive();
    if (this.device === 'meta') return Tensor.meta(this.shape, this.dtype);
    return Tensor.fromHandle(native.clone(this.handle), this.shape, this.dtype, this.device);
  }

  /** The same storage seen with another shape of equal size; one dim may be -1 (inferred). */
  reshape(shape: readonly number[]): Tensor {
    this.assertLive();
    const resolved = resolveReshape(this.shape, shape);
    if (this.device === 'meta') return Tensor.meta(resolved, this.dtype);
    return Tensor.fromHandle(native.view(this.handle, resolved), resolved, this.dtype, this.device);
  }

  /** Releases the storage now (views keep shared storage alive until they are disposed too). Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#handle?.dispose();
    this.#handle = null;
  }

  /**
   * A short description such as `Tensor([2, 3], f32, cpu)` (`, disposed` appended once disposed); never reads the data.
   */
  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}, ${this.device}${this.#disposed ? ', disposed' : ''})`;
  }
}

function resolveReshape(from: readonly number[], to: readonly number[]): number[] {
  check(Array.isArray(to), 'SHAPE', 'reshape: shape must be an array');
  const total = numel(from);
  let inferred = -1;
  let known = 1;
  to.forEach((d, i) => {
    if (d === -1) {
      check(inferred < 0, 'SHAPE', () => `reshape: more than one -1 in ${shapeStr(to)}`);
      inferred = i;
    } else {
      check(Number.isInteger(d) && d >= 0, 'SHAPE', () => `reshape: invalid dimension ${d} in ${shapeStr(to)}`);
      known *= d;
    }
  });
  const out = [...to];
  if (inferred >= 0) {
    check(known > 0 && total % known === 0, 'SHAPE', () => `reshape: cannot infer -1 in ${shapeStr(to)} from ${shapeStr(from)}`);
    out[inferred] = total / known;
  }
  check(numel(out) === total, 'SHAPE', () => `reshape: cannot view ${shapeStr(from)} (${total} elements) as ${shapeStr(to)}`);
  return checkShape(out, 'reshape');
}
