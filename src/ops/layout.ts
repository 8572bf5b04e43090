/** Layout ops (all copies): permute, slice, concat, split, nearest 2× upsampling, NCHW ↔ tokens. */
import { check } from '../errors.js';
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import { commonDType, commonDevice, normalizeDim, output, requireTensor, shapeStr } from './common.js';

/** Reorders dims: out.shape[i] = x.shape[dims[i]]. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  requireTensor(x, 'permute: x');
  check(Array.isArray(dims) && dims.length === x.rank, 'ARG',
    () => `permute: ${Array.isArray(dims) ? dims.length : 'no'} dims given for a ${x.rank}-d tensor ${shapeStr(x.shape)}`);
  const seen = new Set<number>();
  const norm = dims.map((d) => {
    const n = normalizeDim(d, x.rank, 'permute');
    check(!seen.has(n), 'ARG', () => `permute: dim ${n} repeated in ${shapeStr(dims)}`);
    seen.add(n);
    return n;
  });
  return output(x.device, norm.map((d) => x.shape[d]!), x.dtype, () => native.permute(x.handle, norm));
}

/** Elements start ≤ i < end along `dim` (negative indices count from the end). */
export function slice(x: Tensor, dim: number, start: number, end: number): Tensor {
  requireTensor(x, 'slice: x');
  const d = normalizeDim(dim, x.rank, 'slice');
  const size = x.shape[d]!;
  check(Number.isInteger(start) && Number.isInteger(end), 'ARG', () => `slice: start and end must be integers, got ${start}, ${end}`);
  const s = start < 0 ? start + size : start, e = end < 0 ? end + size : end;
  check(s >= 0 && e <= size && s <= e, 'ARG', () => `slice: range [${start}, ${end}) is outside dim ${d} of size ${size} in ${shapeStr(x.shape)}`);
  const shape = [...x.shape];
  shape[d] = e - s;
  return output(x.device, shape, x.dtype, () => native.slice(x.handle, d, s, e));
}

/** Joins tensors along `dim` (default 1, the channel dim of NCHW). */
export function concat(xs: readonly Tensor[], dim = 1): Tensor {
  check(Array.isArray(xs) && xs.length > 0, 'ARG', 'concat: needs a non-empty array of tensors');
  xs.forEach((t, i) => requireTensor(t, `concat: tensor ${i}`));
  const first = xs[0]!;
  const device = commonDevice('concat', ...xs);
  const dtype = commonDType('concat', ...xs);
  const d = normalizeDim(dim, first.rank, 'concat');
  const shape = [...first.shape];
  shape[d] = 0;
  xs.forEach((t, i) => {
    const fits = t.rank === first.rank && t.shape.every((s: number, k: number) => k === d || s === first.shape[k]);
    check(fits, 'SHAPE', () => `concat: tensor ${i} has shape ${shapeStr(t.shape)}, incompatible with ${shapeStr(first.shape)} along dim ${d}`);
    shape[d]! += t.shape[d]!;
  });
  return output(device, shape, dtype, () => native.concat(xs.map((t) => t.handle), d));
}

/** Splits along `dim` into pieces of the given sizes (which must add up to the dim's size). */
export function split(x: Tensor, sizes: readonly number[], dim = 1): Tensor[] {
  requireTensor(x, 'split: x');
  const d = normalizeDim(dim, x.rank, 'split');
  check(Array.isArray(sizes) && sizes.every((s) => Number.isInteger(s) && s >= 0), 'ARG', 'split: sizes must be non-negative integers');
  const total = sizes.reduce((a, b) => a + b, 0);
  check(total === x.shape[d], 'SHAPE', () => `split: sizes ${shapeStr(sizes)} add up to ${total}, dim ${d} of ${shapeStr(x.shape)} is ${x.shape[d]}`);
  const out: Tensor[] = [];
  let start = 0;
  for (const s of sizes) {
    out.push(slice(x, d, start, start + s));
    start += s;
  }
  return out;
}

/** Nearest-neighbour 2× upsampling of x [N, C, H, W]. */
export function upsampleNearest2x(x: Tensor): Tensor {
  requireTensor(x, 'upsampleNearest2x: x');
  check(x.rank === 4, 'SHAPE', () => `upsampleNearest2x: input must be [N, C, H, W], got ${shapeStr(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return output(x.device, [n, c, 2 * h, 2 * w], x.dtype, () => native.upsample2x(x.handle));
}

/** [N, C, H, W] → [N, H·W, C] (the token layout of transformer blocks). */
export function nchwToTokens(x: Tensor): Tensor {
  requireTensor(x, 'nchwToTokens: x');
  check(x.rank === 4, 'SHAPE', () => `nchwToTokens: input must be [N, C, H, W], got ${shapeStr(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const flat = x.reshape([n, c, h * w]);
  try {
    return permute(flat, [0, 2, 1]);
  } finally {
    flat.dispose();
  }
}

/** [N, H·W, C] → [N, C, H, W]. */
export function tokensToNchw(x: Tensor, h: number, w: number): Tensor {
  requireTensor(x, 'tokensToNchw: x');
  check(x.rank === 3 && x.shape[1] === h * w, 'SHAPE', () => `tokensToNchw: ${shapeStr(x.shape)} is not [N, ${h}·${w}, C]`);
  const t = permute(x, [0, 2, 1]);
  try {
    return t.reshape([x.shape[0]!, x.shape[2]!, h, w]);
  } finally {
    t.dispose();
  }
}
