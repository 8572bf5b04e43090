/**
 * Tensor creation. Every function takes an options object `{ dtype = 'f32', device = 'cpu' }`.
 * `randn` uses a counter-based generator (Philox4x32-10 + Box-Muller): the same seed gives the same numbers
 * on every backend, and element i does not depend on the tensor's size.
 */
import { type DType, checkDType, encode } from './dtype.js';
import { check, shapeStr } from './errors.js';
import { native } from './native.js';
import { type Device, Tensor, checkDevice, checkShape, numel } from './tensor.js';

/** Where and how a new tensor is stored. */
export interface CreateOptions {
  /** Element type (default 'f32'). */
  dtype?: DType;
  /** Device (default 'cpu'). */
  device?: Device;
}

/** Options of {@link randn}. */
export interface RandnOptions extends CreateOptions {
  /** Stream seed, a non-negative integer below 2^53 or a bigint below 2^64 (default 0). */
  seed?: number | bigint;
}

function resolve(opts: CreateOptions | undefined): { dtype: DType; device: Device } {
  check(opts === undefined || (typeof opts === 'object' && opts !== null), 'ARG', 'options must be an object');
  return { dtype: checkDType(opts?.dtype ?? 'f32'), device: checkDevice(opts?.device ?? 'cpu') };
}

/**
 * A tensor from values (flat, in row-major order). `values` may be a number array, a Float32Array, or —
 * for f16/bf16 — a Uint16Array of raw bit patterns.
 */
export function tensor(values: ArrayLike<number>, shape: readonly number[], opts?: CreateOptions): Tensor {
  const s = checkShape(shape);
  const { dtype, device } = resolve(opts);
  check(values !== null && typeof values === 'object' && typeof values.length === 'number', 'ARG',
    'tensor: values must be an array or typed array');
  check(values.length === numel(s), 'SHAPE', () => `tensor: ${values.length} values given for shape ${shapeStr(s)} (${numel(s)} expected)`);
  if (device === 'meta') return Tensor.meta(s, dtype);
  let data: Float32Array | Uint16Array;
  if (dtype !== 'f32' && values instanceof Uint16Array) data = values;
  else data = encode(values, dtype);
  return Tensor.fromHandle(native.fromHost(device, s, dtype, data), s, dtype, device);
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, opts?: CreateOptions): Tensor {
  const s = checkShape(shape);
  const { dtype, device } = resolve(opts);
  check(typeof value === 'number', 'ARG', () => `full: value must be a number, got ${typeof value}`);
  if (device === 'meta') return Tensor.meta(s, dtype);
  return Tensor.fromHandle(native.full(device, s, dtype, value), s, dtype, device);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], opts?: CreateOptions): Tensor {
  return full(shape, 0, opts);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], opts?: CreateOptions): Tensor {
  return full(shape, 1, opts);
}

/** Standard normal samples from the Philox stream `seed`. */
export function randn(shape: readonly number[], opts?: RandnOptions): Tensor {
  const s = checkShape(shape);
  const { dtype, device } = resolve(opts);
  const seed = opts?.seed ?? 0;
  check((typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) ||
    (typeof seed === 'bigint' && seed >= 0n && seed < 2n ** 64n), 'ARG',
  () => `randn: seed must be a non-negative integer below 2^53 (or a bigint below 2^64), got ${String(seed)}`);
  if (device === 'meta') return Tensor.meta(s, dtype);
  return Tensor.fromHandle(native.randn(device, s, dtype, seed), s, dtype, device);
}
