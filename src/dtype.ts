/**
 * Element types and exact f32 ↔ f16/bf16 conversions (round to nearest, ties to even; infinities and NaN
 * preserved), identical to the native conversions in include/hgc/dtype.h.
 */
import { HgcError } from './errors.js';

/** Storage element type. f16 and bf16 tensors hold raw 16-bit patterns (`data()` gives a Uint16Array). */
export type DType = 'f32' | 'f16' | 'bf16';

/** All dtypes. */
export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];

/** Bytes per element. */
export function dtypeSize(dtype: DType): number {
  return dtype === 'f32' ? 4 : 2;
}

/** @internal Throws HgcError('DTYPE') unless `d` is a known dtype. */
export function checkDType(d: unknown, what = 'dtype'): DType {
  if (d !== 'f32' && d !== 'f16' && d !== 'bf16') {
    throw new HgcError('DTYPE', `${what}: unknown dtype ${JSON.stringify(d)} (expected f32, f16 or bf16)`);
  }
  return d;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bit pattern nearest to `value` (ties to even). */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const abs = u & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    if (abs < 0x33000000) return sign;
    const exp = abs >>> 23;
    const mant = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - exp;
    let result = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (result & 1) === 1)) result++;
    return sign | result;
  }
  const rounded = abs + 0xfff + ((abs >>> 13) & 1);
  return sign | ((rounded - 0x38000000) >>> 13);
}

/** The value of an f16 bit pattern. */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** The bf16 bit pattern nearest to `value` (ties to even). */
export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const u = u32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The value of a bf16 bit pattern. */
export function bf16BitsToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

/** Encodes numbers as `dtype` storage (Float32Array for f32, bit patterns in a Uint16Array otherwise). */
export function encode(values: ArrayLike<number>, dtype: DType): Float32Array | Uint16Array {
  if (dtype === 'f32') return Float32Array.from(values);
  const out = new Uint16Array(values.length);
  const conv = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < values.length; i++) out[i] = conv(values[i]!);
  return out;
}

/** Decodes `dtype` storage to float values. */
export function decode(data: Float32Array | Uint16Array, dtype: DType): Float32Array {
  if (dtype === 'f32') return data as Float32Array;
  const out = new Float32Array(data.length);
  const conv = dtype === 'f16' ? f16BitsToF32 : bf16BitsToF32;
  for (let i = 0; i < data.length; i++) out[i] = conv(data[i]!);
  return out;
}
