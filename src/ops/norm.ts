/** Normalisations (group norm with optional fused SiLU, layer norm) and softmax over the last dim. */
import { check } from '../errors.js';
import { native } from '../native.js';
import { recordMacs } from '../profile/macs.js';
import type { Tensor } from '../tensor.js';
import { checkOptions, commonDType, commonDevice, optionalTensor, output, requireTensor, sameShape, shapeStr } from './common.js';

/** Options of {@link groupNorm}. */
export interface GroupNormOptions {
  /** Scale per channel [C]. */
  weight?: Tensor;
  /** Shift per channel [C]. */
  bias?: Tensor;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Apply SiLU to the result (fused). */
  silu?: boolean;
}

function checkEps(eps: number, op: string): void {
  check(typeof eps === 'number' && Number.isFinite(eps) && eps >= 0, 'ARG', () => `${op}: eps must be a finite number >= 0, got ${eps}`);
}

/** GroupNorm over x [N, C, ...spatial] with `groups` groups of C/groups channels. */
export function groupNorm(x: Tensor, groups: number, opts?: GroupNormOptions): Tensor {
  const o = checkOptions(opts, 'groupNorm');
  requireTensor(x, 'groupNorm: x');
  const weight = optionalTensor(o.weight, 'groupNorm: weight');
  const bias = optionalTensor(o.bias, 'groupNorm: bias');
  const device = commonDevice('groupNorm', x, weight, bias);
  const dtype = commonDType('groupNorm', x, weight, bias);
  check(x.rank >= 2, 'SHAPE', () => `groupNorm: input must be [N, C, ...], got ${shapeStr(x.shape)}`);
  const c = x.shape[1]!;
  check(Number.isInteger(groups) && groups >= 1 && c % groups === 0, 'ARG',
    () => `groupNorm: ${c} channels of ${shapeStr(x.shape)} do not split into ${groups} groups`);
  for (const p of [weight, bias]) {
    if (p) check(sameShape(p.shape, [c]), 'SHAPE', () => `groupNorm: affine parameter shape ${shapeStr(p.shape)} should be [${c}]`);
  }
  const eps = o.eps ?? 1e-5;
  checkEps(eps, 'groupNorm');
  recordMacs('groupNorm', 'norm', 2 * x.size);
  return output(device, x.shape, dtype, () => native.groupNorm(x.handle, groups, {
    weight: weight?.handle, bias: bias?.handle, eps, silu: o.silu ?? false,
  }));
}

/** Options of {@link layerNorm}. */
export interface LayerNormOptions {
  /** Scale [C] for the last dim C (default: none, i.e. 1). */
  weight?: Tensor;
  /** Shift [C] for the last dim C (default: none, i.e. 0). */
  bias?: Tensor;
  /** Default 1e-5. */
  eps?: number;
}

/** LayerNorm over the last dim of x. */
export function layerNorm(x: Tensor, opts?: LayerNormOptions): Tensor {
  const o = checkOptions(opts, 'layerNorm');
  requireTensor(x, 'layerNorm: x');
  const weight = optionalTensor(o.weight, 'layerNorm: weight');
  const bias = optionalTensor(o.bias, 'layerNorm: bias');
  const device = commonDevice('layerNorm', x, weight, bias);
  const dtype = commonDType('layerNorm', x, weight, bias);
  check(x.rank >= 1, 'SHAPE', 'layerNorm: input must have at least one dim');
  const c = x.shape[x.rank - 1]!;
  for (const p of [weight, bias]) {
    if (p) check(sameShape(p.shape, [c]), 'SHAPE', () => `layerNorm: affine parameter shape ${shapeStr(p.shape)} should be [${c}]`);
  }
  const eps = o.eps ?? 1e-5;
  checkEps(eps, 'layerNorm');
  recordMacs('layerNorm', 'norm', 2 * x.size);
  return output(device, x.shape, dtype, () => native.layerNorm(x.handle, { weight: weight?.handle, bias: bias?.handle, eps }));
}

/** Softmax along the last dim. A row holding NaN gives NaN; an all −∞ row gives zeros. */
export function softmax(x: Tensor): Tensor {
  requireTensor(x, 'softmax: x');
  check(x.rank >= 1, 'SHAPE', 'softmax: input must have at least one dim');
  return output(x.device, x.shape, x.dtype, () => native.softmax(x.handle));
}
