/** @internal Checks shared by the ops: live tensors, one device, one dtype, and wrapping native results. */
import type { DType } from '../dtype.js';
import { check, shapeStr } from '../errors.js';
import type { NativeHandle } from '../native.js';
import { type Device, Tensor } from '../tensor.js';

/** Throws ARG unless `t` is a Tensor, DISPOSED if it was disposed. */
export function requireTensor(t: unknown, what: string): Tensor {
  check(t instanceof Tensor, 'ARG', () => `${what} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  t.assertLive(what);
  return t;
}

/** Like requireTensor, but undefined/null pass through. */
export function optionalTensor(t: unknown, what: string): Tensor | undefined {
  return t === undefined || t === null ? undefined : requireTensor(t, what);
}

/** All tensors on one device (DEVICE error naming both otherwise). */
export function commonDevice(op: string, ...ts: (Tensor | undefined)[]): Device {
  const present = ts.filter((t): t is Tensor => t !== undefined);
  const first = present[0]!;
  for (const t of present) {
    check(t.device === first.device, 'DEVICE',
      () => `${op}: tensors are on different devices ('${first.device}' and '${t.device}')`);
  }
  return first.device;
}

/** All tensors of one dtype (DTYPE error otherwise). */
export function commonDType(op: string, ...ts: (Tensor | undefined)[]): DType {
  const present = ts.filter((t): t is Tensor => t !== undefined);
  const first = present[0]!;
  for (const t of present) {
    check(t.dtype === first.dtype, 'DTYPE',
      () => `${op}: mixed dtypes ${first.dtype} and ${t.dtype} (convert with .cast() first)`);
  }
  return first.dtype;
}

/** The output tensor: a meta tensor, or the native result (whose shape the op computed). */
export function output(device: Device, shape: readonly number[], dtype: DType, run: () => NativeHandle): Tensor {
  if (device === 'meta') return Tensor.meta(shape, dtype);
  return Tensor.fromHandle(run(), shape, dtype, device);
}

/** Normalises a dim index (negative counts from the end); ARG error when out of range. */
export function normalizeDim(dim: number, rank: number, op: string): number {
  check(Number.isInteger(dim) && dim >= -rank && dim < rank, 'ARG',
    () => `${op}: dim ${dim} is out of range for a ${rank}-d tensor`);
  return dim < 0 ? dim + rank : dim;
}

/** Options must be undefined or an object. */
export function checkOptions<T extends object>(opts: T | undefined, op: string): Partial<T> {
  check(opts === undefined || (typeof opts === 'object' && opts !== null), 'ARG', `${op}: options must be an object`);
  return opts ?? {};
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export { shapeStr };
