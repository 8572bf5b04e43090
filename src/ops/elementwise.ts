/** Element-wise ops: broadcasting arithmetic, scaling and activations (GELU, quick GELU, SiLU, GEGLU). */
import { check } from '../errors.js';
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import { commonDType, commonDevice, output, requireTensor, shapeStr } from './common.js';

/** NumPy broadcast of two shapes; SHAPE error naming both when incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[], op = 'broadcast'): number[] {
  const nd = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < nd; i++) {
    const da = i < nd - a.length ? 1 : a[i - (nd - a.length)]!;
    const db = i < nd - b.length ? 1 : b[i - (nd - b.length)]!;
    check(da === db || da === 1 || db === 1, 'SHAPE', () => `${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function binary(a: Tensor, b: Tensor, op: 'add' | 'sub' | 'mul' | 'div'): Tensor {
  requireTensor(a, `${op}: a`);
  requireTensor(b, `${op}: b`);
  const device = commonDevice(op, a, b);
  const dtype = commonDType(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape, op);
  check(shape.length <= 8, 'SHAPE', () => `${op}: at most 8 dims supported`);
  return output(device, shape, dtype, () => native.binary(a.handle, b.handle, op));
}

/** a + b with broadcasting. */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, 'add');
}
/** a − b with broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, 'sub');
}
/** a · b with broadcasting. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, 'mul');
}
/** a / b with broadcasting. */
export function div(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, 'div');
}

type UnaryName = 'affine' | 'gelu' | 'gelu_tanh' | 'silu' | 'quick_gelu' | 'relu' | 'tanh' | 'sigmoid';

function unary(x: Tensor, op: UnaryName, alpha = 1, beta = 0): Tensor {
  requireTensor(x, `${op}: x`);
  check(typeof alpha === 'number' && typeof beta === 'number', 'ARG', () => `${op}: factors must be numbers`);
  return output(x.device, x.shape, x.dtype, () => native.unary(x.handle, op, alpha, beta));
}

/** alpha · x + beta. */
export function scale(x: Tensor, alpha: number, beta = 0): Tensor {
  return unary(x, 'affine', alpha, beta);
}

/** Options of {@link gelu}. */
export interface GeluOptions {
  /** 'erf' (exact, default) or 'tanh' (the approximation). */
  approximate?: 'none' | 'tanh';
}

/** GELU. */
export function gelu(x: Tensor, opts?: GeluOptions): Tensor {
  const approx = opts?.approximate ?? 'none';
  check(approx === 'none' || approx === 'tanh', 'ARG', () => `gelu: approximate must be 'none' or 'tanh', got '${String(approx)}'`);
  return unary(x, approx === 'tanh' ? 'gelu_tanh' : 'gelu');
}

/** x · sigmoid(1.702 x) (CLIP's activation). */
export function quickGelu(x: Tensor): Tensor {
  return unary(x, 'quick_gelu');
}

/** x · sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return unary(x, 'silu');
}

/** max(x, 0) (NaN stays NaN). */
export function relu(x: Tensor): Tensor {
  return unary(x, 'relu');
}

/** tanh(alpha · x) (alpha default 1). */
export function tanh(x: Tensor, alpha = 1): Tensor {
  return unary(x, 'tanh', alpha);
}

/** 1 / (1 + e^(−x)). */
export function sigmoid(x: Tensor): Tensor {
  return unary(x, 'sigmoid');
}

/** GEGLU: x [..., 2C] → hidden · gelu(gate) [..., C] with hidden, gate = the two halves of the last dim. */
export function geglu(x: Tensor, opts?: GeluOptions): Tensor {
  requireTensor(x, 'geglu: x');
  check(x.rank >= 1 && x.shape[x.rank - 1]! % 2 === 0, 'SHAPE',
    () => `geglu: last dim must be even (hidden and gate halves), got ${shapeStr(x.shape)}`);
  const approx = opts?.approximate ?? 'none';
  check(approx === 'none' || approx === 'tanh', 'ARG', () => `geglu: approximate must be 'none' or 'tanh'`);
  const shape = [...x.shape.slice(0, -1), x.shape[x.rank - 1]! / 2];
  return output(x.device, shape, x.dtype, () => native.geglu(x.handle, approx === 'tanh'));
}
