/** Batch helpers for cached tensors crossing the CFG gate (batch 2 → 1). */
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';

/** (x[0] + x[1]) / 2 with batch 1: the fusion of the unconditional and conditional halves. */
export function meanOfHalves(x: Tensor): Tensor {
  return tidy(() => {
    const [a, b] = ops.split(x, [1, 1], 0) as [Tensor, Tensor];
    return ops.scale(ops.add(a, b), 0.5);
  });
}

/** `x` at `batch` (a new tensor): unchanged, or fused from 2 to 1. Undefined when it cannot be matched. */
export function matchBatch(x: Tensor, batch: number): Tensor | undefined {
  if (x.shape[0] === batch) return x.clone();
  if (x.shape[0] === 2 && batch === 1) return meanOfHalves(x);
  return undefined;
}

/** Classifier-free guidance on a [uncond, cond] batch: eps_u + w·(eps_c − eps_u), batch 1. */
export function guide(eps: Tensor, guidance: number): Tensor {
  return tidy(() => {
    const [eu, ec] = ops.split(eps, [1, 1], 0) as [Tensor, Tensor];
    return ops.add(eu, ops.scale(ops.sub(ec, eu), guidance));
  });
}
