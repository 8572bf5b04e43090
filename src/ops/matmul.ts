/** Matrix products: batched `matmul` with a fused epilogue, and `linear` (x · Wᵀ + b) as used by nn layers. */
import { check } from '../errors.js';
import { native } from '../native.js';
import { recordMacs } from '../profile/macs.js';
import type { Tensor } from '../tensor.js';
import { checkOptions, commonDType, commonDevice, optionalTensor, output, requireTensor, sameShape, shapeStr } from './common.js';

/** Activation fused into an epilogue. 'gelu' is the exact erf form. */
export type Activation = 'none' | 'gelu' | 'gelu_tanh' | 'silu' | 'quick_gelu';
const ACTIVATIONS: readonly Activation[] = ['none', 'gelu', 'gelu_tanh', 'silu', 'quick_gelu'];

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** Use aᵀ: a is [..., K, M]. */
  transA?: boolean;
  /** Use bᵀ: b is [..., N, K] (the layout of a Linear weight). */
  transB?: boolean;
  /** [N], added before the activation. */
  bias?: Tensor;
  /** Output-shaped tensor added after the activation. */
  residual?: Tensor;
  /** Activation applied to (a·b + bias). */
  activation?: Activation;
  /** MAC category reported to the counter (default 'matmul'; nn layers report 'linear'). */
  macCategory?: 'matmul' | 'linear' | 'attention';
}

/** Output shape of matmul; throws SHAPE naming both operands when they do not fit. */
export function matmulShape(a: readonly number[], b: readonly number[], transA = false, transB = false): number[] {
  check(a.length >= 2 && b.length >= 2, 'SHAPE', () => `matmul: operands need at least 2 dims, got ${shapeStr(a)} and ${shapeStr(b)}`);
  const m = transA ? a[a.length - 1]! : a[a.length - 2]!;
  const ka = transA ? a[a.length - 2]! : a[a.length - 1]!;
  const kb = transB ? b[b.length - 1]! : b[b.length - 2]!;
  const n = transB ? b[b.length - 2]! : b[b.length - 1]!;
  check(ka === kb, 'SHAPE', () => `matmul: inner dimensions differ: ${shapeStr(a)}${transA ? 'ᵀ' : ''} · ${shapeStr(b)}${transB ? 'ᵀ' : ''} (${ka} vs ${kb})`);
  const batchA = a.slice(0, -2), batchB = b.slice(0, -2);
  check(batchA.length === 0 || batchB.length === 0 || sameShape(batchA, batchB), 'SHAPE',
    () => `matmul: batch dims differ: ${shapeStr(a)} vs ${shapeStr(b)}`);
  return [...(batchB.length === 0 ? batchA : batchB), m, n];
}

/**
 * act(op(a) · op(b) + bias) + residual, batched over leading dims. Batch dims of a and b must be equal,
 * or one side has none (a shared matrix). Computes in f32; f16/bf16 inputs give an output of that dtype.
 */
export function matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor {
  const o = checkOptions(opts, 'matmul');
  requireTensor(a, 'matmul: a');
  requireTensor(b, 'matmul: b');
  const bias = optionalTensor(o.bias, 'matmul: bias');
  const residual = optionalTensor(o.residual, 'matmul: residual');
  const activation = o.activation ?? 'none';
  check(ACTIVATIONS.includes(activation), 'ARG', () => `matmul: unknown activation '${String(activation)}'`);
  const device = commonDevice('matmul', a, b, bias, residual);
  const dtype = commonDType('matmul', a, b, bias, residual);
  const shape = matmulShape(a.shape, b.shape, o.transA ?? false, o.transB ?? false);
  const n = shape[shape.length - 1]!;
  if (bias) check(sameShape(bias.shape, [n]), 'SHAPE', () => `matmul: bias shape ${shapeStr(bias.shape)} should be [${n}]`);
  if (residual) {
    check(sameShape(residual.shape, shape), 'SHAPE',
      () => `matmul: residual shape ${shapeStr(residual.shape)} should equal the output shape ${shapeStr(shape)}`);
  }
  const k = o.transA ? a.shape[a.shape.length - 2]! : a.shape[a.shape.length - 1]!;
  recordMacs('matmul', o.macCategory ?? 'matmul', (shape.reduce((x, y) => x * y, 1)) * k);
  return output(device, shape, dtype, () => native.matmul(a.handle, b.handle, {
    transA: o.transA ?? false, transB: o.transB ?? false, bias: bias?.handle, residual: residual?.handle, activation,
  }));
}

/** Options of {@link linear}. */
export interface LinearOptions {
  /** [out], added before the activation. */
  bias?: Tensor;
  /** Output-shaped tensor [..., out] added after the activation. */
  residual?: Tensor;
  /** Activation applied to (x·weightᵀ + bias) (default 'none'). */
  activation?: Activation;
}

/** x · weightᵀ + bias for weight [out, in] (PyTorch's Linear layout); x is [..., in]. Counted as 'linear'. */
export function linear(x: Tensor, weight: Tensor, opts?: LinearOptions): Tensor {
  const o = checkOptions(opts, 'linear');
  requireTensor(x, 'linear: x');
  requireTensor(weight, 'linear: weight');
  check(weight.rank === 2, 'SHAPE', () => `linear: weight must be [out, in], got ${shapeStr(weight.shape)}`);
  check(x.rank >= 1 && x.shape[x.rank - 1] === weight.shape[1], 'SHAPE',
    () => `linear: input ${shapeStr(x.shape)} does not end in ${weight.shape[1]} (weight ${shapeStr(weight.shape)})`);
  // Fold leading dims into rows so the weight is shared: [..., in] → [rows, in] → [rows, out] → [..., out].
  const rows = x.shape.slice(0, -1);
  const flat = x.rank === 2 ? x : x.reshape([rows.reduce((p, d) => p * d, 1), weight.shape[1]!]);
  const outShape = [...rows, weight.shape[0]!];
  const residual = o.residual && o.residual.rank !== 2 ? o.residual.reshape([flat.shape[0]!, weight.shape[0]!]) : o.residual;
  try {
    const y = matmul(flat, weight, { transB: true, bias: o.bias, residual, activation: o.activation, macCategory: 'linear' });
    if (x.rank === 2) return y;
    const shaped = y.reshape(outShape);
    y.dispose();
    return shaped;
  } finally {
    if (flat !== x) flat.dispose();
    if (residual !== o.residual) residual?.dispose();
  }
}
