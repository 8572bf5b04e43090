/**
 * controlNetEvery(n): the UNet runs every step, the ControlNet only every n-th step; in between its last
 * residuals are reused. The worked example of docs/cache-policies.md (a policy is one small file).
 */
import { HgcError } from '../../errors.js';
import type { CachePolicy } from '../policy.js';

/**
 * Runs the ControlNet on steps 0, n, 2n, … and reuses its last residuals on the others; the UNet runs fully every
 * step. HgcError('ARG') unless n is an integer ≥ 1.
 */
export function controlNetEvery(n: number): CachePolicy {
  if (!Number.isInteger(n) || n < 1) throw new HgcError('ARG', `controlNetEvery: n must be an integer >= 1, got ${n}`);
  return {
    name: `controlNetEvery(${n})`,
    plan: (ctx) => ({
      cfg: ctx.cfg,
      block: { kind: 'full' },
      controlnet: ctx.index % n === 0 ? 'run' : 'reuse',
      storeResiduals: true,
      crossAttention: 'compute',
    }),
  };
}
