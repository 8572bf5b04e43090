/**
 * Multi-head scaled dot-product attention in three modes:
 * - 'compute': flash-style streaming softmax; the N×M scores are never materialised;
 * - 'capture': as compute, and also writes P = softmax(q·kᵀ·scale) [B, heads, N, M] into `probs`;
 * - 'replay': out = P·v from a captured `probs` (q and k are not used and may be null).
 */
import { check } from '../errors.js';
import { native } from '../native.js';
import { recordMacs } from '../profile/macs.js';
import type { Tensor } from '../tensor.js';
import { checkOptions, commonDType, commonDevice, optionalTensor, output, requireTensor, sameShape, shapeStr } from './common.js';

/** Attention mode. */
export type AttentionMode = 'compute' | 'capture' | 'replay';

/** Options of {@link attention}. */
export interface AttentionOptions {
  /** Number of heads; channels must divide by it (default 1). */
  heads?: number;
  /** Score scale (default 1/√headDim). */
  scale?: number;
  /** Query i sees keys j ≤ i + (M − N) (CLIP's causal mask). */
  causal?: boolean;
  /** Default 'compute'. */
  mode?: AttentionMode;
  /** f32 [B, heads, N, M] on the same device: written in 'capture', read in 'replay'. */
  probs?: Tensor;
}

/**
 * q [B, N, C], k and v [B, M, C] → [B, N, C], C = heads × headDim. Returns the output; in capture mode the
 * probabilities are written into `opts.probs` (which stays owned by the caller).
 */
export function attention(q: Tensor | null, k: Tensor | null, v: Tensor, opts?: AttentionOptions): Tensor {
  const o = checkOptions(opts, 'attention');
  const mode = o.mode ?? 'compute';
  check(mode === 'compute' || mode === 'capture' || mode === 'replay', 'ARG', () => `attention: unknown mode '${String(mode)}'`);
  const replay = mode === 'replay';
  const qq = replay ? optionalTensor(q, 'attention: q') : requireTensor(q, 'attention: q');
  const kk = replay ? optionalTensor(k, 'attention: k') : requireTensor(k, 'attention: k');
  requireTensor(v, 'attention: v');
  const probs = optionalTensor(o.probs, 'attention: probs');
  const heads = o.heads ?? 1;
  check(Number.isInteger(heads) && heads >= 1, 'ARG', () => `attention: heads must be an integer >= 1, got ${heads}`);
  if (o.scale !== undefined) check(Number.isFinite(o.scale), 'ARG', () => `attention: scale must be finite, got ${o.scale}`);
  const device = commonDevice('attention', qq, kk, v, probs);
  const dtype = commonDType('attention', qq, kk, v);
  check(v.rank === 3, 'SHAPE', () => `attention: v must be [batch, m, channels], got ${shapeStr(v.shape)}`);
  const [batch, m, channels] = v.shape as [number, number, number];
  check(channels % heads === 0, 'SHAPE', () => `attention: ${channels} channels do not split into ${heads} heads`);
  check(m >= 1, 'SHAPE', () => `attention: needs at least one key, got v ${shapeStr(v.shape)}`);
  let n: number;
  if (!replay) {
    const qs = qq!.shape, ks = kk!.shape;
    check(qs.length === 3 && qs[0] === batch && qs[2] === channels, 'SHAPE',
      () => `attention: q ${shapeStr(qs)} does not match v ${shapeStr(v.shape)} (expected [${batch}, n, ${channels}])`);
    check(sameShape(ks, v.shape), 'SHAPE', () => `attention: k ${shapeStr(ks)} and v ${shapeStr(v.shape)} must have the same shape`);
    n = qs[1]!;
    check(!o.causal || m >= n, 'SHAPE', () => `attention: causal mask needs m >= n, got n = ${n}, m = ${m}`);
  } else {
    check(probs !== undefined, 'ARG', 'attention: replay mode needs a probs buffer');
    check(probs.rank === 4, 'SHAPE', () => `attention: probs must be [batch, heads, n, m], got ${shapeStr(probs.shape)}`);
    n = probs.shape[2]!;
  }
  if (mode !== 'compute') {
    check(probs !== undefined, 'ARG', () => `attention: ${mode} mode needs a probs buffer`);
    check(probs.dtype === 'f32', 'DTYPE', () => `attention: probs must be f32, got ${probs.dtype}`);
    const expected = [batch, heads, n, m];
    check(sameShape(probs.shape, expected), 'SHAPE',
      () => `attention: probs shape ${shapeStr(probs.shape)} should be ${shapeStr(expected)} in ${mode} mode`);
  }
  const headDim = channels / heads;
  const product = batch * heads * n * m * headDim;
  if (!replay) recordMacs('attention.qk', 'attention', product);
  recordMacs('attention.pv', 'attention', product);
  return output(device, [batch, n, channels], dtype, () => native.attention(qq?.handle ?? null, kk?.handle ?? null, v.handle, {
    heads, scale: o.scale, causal: o.causal ?? false, mode, probs: probs?.handle,
  }));
}
