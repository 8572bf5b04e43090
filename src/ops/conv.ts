/** 2-D convolution, NCHW, groups = 1, with fused bias and residual add and an optional GroupNorm (+ SiLU) of the input. */
import { check } from '../errors.js';
import { native } from '../native.js';
import { recordMacs } from '../profile/macs.js';
import type { Tensor } from '../tensor.js';
import type { GroupNormOptions } from './norm.js';
import { checkOptions, commonDType, commonDevice, optionalTensor, output, requireTensor, sameShape, shapeStr } from './common.js';

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  /** Stride in both directions (default 1). */
  stride?: number;
  /** Zero padding on every side (default 0). */
  padding?: number;
  /** [Cout]. */
  bias?: Tensor;
  /** Output-shaped tensor added to the result (a ResNet skip). */
  residual?: Tensor;
  /**
   * GroupNorm (+ SiLU) of the input before the convolution: the result equals
   * `conv2d(groupNorm(x, norm.groups, norm), weight, ...)`. The CUDA backends fuse it into the convolution's
   * input pass (the normalised tensor is never stored); the CPU runs the two ops.
   */
  norm?: GroupNormOptions & {
    /** Number of channel groups; must divide the input's channels. */
    groups: number;
  };
}

/** Output shape of conv2d; throws SHAPE/ARG on mismatches. */
export function conv2dShape(x: readonly number[], w: readonly number[], stride: number, padding: number): number[] {
  check(x.length === 4, 'SHAPE', () => `conv2d: input must be [N, C, H, W], got ${shapeStr(x)}`);
  check(w.length === 4, 'SHAPE', () => `conv2d: weight must be [Cout, Cin, kh, kw], got ${shapeStr(w)}`);
  check(x[1] === w[1], 'SHAPE', () => `conv2d: input has ${x[1]} channels ${shapeStr(x)} but weight expects ${w[1]} ${shapeStr(w)} (groups = 1 only)`);
  check(Number.isInteger(stride) && stride >= 1, 'ARG', () => `conv2d: stride must be an integer >= 1, got ${stride}`);
  check(Number.isInteger(padding) && padding >= 0, 'ARG', () => `conv2d: padding must be an integer >= 0, got ${padding}`);
  const [, , h, wd] = x as [number, number, number, number];
  const [, , kh, kw] = w as [number, number, number, number];
  check(kh >= 1 && kw >= 1, 'SHAPE', () => `conv2d: empty kernel ${shapeStr(w)}`);
  check(h + 2 * padding >= kh && wd + 2 * padding >= kw, 'SHAPE',
    () => `conv2d: kernel ${kh}×${kw} is larger than the padded input ${h + 2 * padding}×${wd + 2 * padding}`);
  return [x[0]!, w[0]!, Math.floor((h + 2 * padding - kh) / stride) + 1, Math.floor((wd + 2 * padding - kw) / stride) + 1];
}

/** y = conv(x, weight) + bias + residual for x [N, Cin, H, W] and weight [Cout, Cin, kh, kw]. */
export function conv2d(x: Tensor, weight: Tensor, opts?: Conv2dOptions): Tensor {
  const o = checkOptions(opts, 'conv2d');
  requireTensor(x, 'conv2d: x');
  requireTensor(weight, 'conv2d: weight');
  const bias = optionalTensor(o.bias, 'conv2d: bias');
  const residual = optionalTensor(o.residual, 'conv2d: residual');
  const norm = o.norm === undefined ? undefined : checkOptions(o.norm, 'conv2d norm');
  const normWeight = optionalTensor(norm?.weight, 'conv2d: norm.weight');
  const normBias = optionalTensor(norm?.bias, 'conv2d: norm.bias');
  const device = commonDevice('conv2d', x, weight, bias, residual, normWeight, normBias);
  const dtype = commonDType('conv2d', x, weight, bias, residual, normWeight, normBias);
  const stride = o.stride ?? 1, padding = o.padding ?? 0;
  const shape = conv2dShape(x.shape, weight.shape, stride, padding);
  if (bias) check(sameShape(bias.shape, [shape[1]!]), 'SHAPE', () => `conv2d: bias shape ${shapeStr(bias.shape)} should be [${shape[1]}]`);
  if (residual) {
    check(sameShape(residual.shape, shape), 'SHAPE',
      () => `conv2d: residual shape ${shapeStr(residual.shape)} should equal the output shape ${shapeStr(shape)}`);
  }
  let nativeNorm: object | undefined;
  if (norm) {
    const c = x.shape[1]!, groups = norm.groups as number, eps = norm.eps ?? 1e-5;
    check(Number.isInteger(groups) && groups >= 1 && c % groups === 0, 'ARG',
      () => `conv2d: ${c} input channels of ${shapeStr(x.shape)} do not split into ${groups} GroupNorm groups`);
    for (const p of [normWeight, normBias]) {
      if (p) check(sameShape(p.shape, [c]), 'SHAPE', () => `conv2d: GroupNorm parameter shape ${shapeStr(p.shape)} should be [${c}]`);
    }
    check(typeof eps === 'number' && Number.isFinite(eps) && eps >= 0, 'ARG', () => `conv2d: norm.eps must be a finite number >= 0, got ${eps}`);
    recordMacs('groupNorm', 'norm', 2 * x.size);
    nativeNorm = { groups, weight: normWeight?.handle, bias: normBias?.handle, eps, silu: norm.silu ?? false };
  }
  const outElems = shape.reduce((p, d) => p * d, 1);
  const kernel = weight.shape[1]! * weight.shape[2]! * weight.shape[3]!;
  recordMacs('conv2d', 'conv', outElems * (kernel + (bias ? 1 : 0)));
  return output(device, shape, dtype, () => native.conv2d(x.handle, weight.handle, {
    stride, padding, bias: bias?.handle, residual: residual?.handle, norm: nativeNorm,
  }));
}
