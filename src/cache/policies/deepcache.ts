/**
 * DeepCache (Ma et al., CVPR'24): every `interval` steps the UNet runs fully and keeps h_b at skip branch
 * `branch`; in between only the shallow part S_b runs. UNet only: the ControlNet runs every step, as in
 * DeepCache's code (its residuals beyond S_b are then unused).
 */
import { HgcError } from '../../errors.js';
import type { CachePolicy, StepPlan } from '../policy.js';
import { branchBytes } from './memory.js';

/** Options of {@link deepCache}. */
export interface DeepCacheOptions {
  /** Full step every `interval` steps (default 3, DeepCache's README setting). */
  interval?: number;
  /** Skip branch b (default 0, the shallowest). */
  branch?: number;
}

/**
 * DeepCache: a full UNet step every `interval` steps (0, interval, 2·interval, …) that stores h_b at `branch`; the
 * other steps run only the shallow part S_b on it. The ControlNet runs every step. HgcError('ARG') for a
 * non-integer interval < 1 or branch < 0, and at the start of a generation for a branch the UNet does not have.
 */
export function deepCache(opts: DeepCacheOptions = {}): CachePolicy {
  const interval = opts.interval ?? 3, branch = opts.branch ?? 0;
  if (!Number.isInteger(interval) || interval < 1) throw new HgcError('ARG', `deepCache: interval must be an integer >= 1, got ${interval}`);
  if (!Number.isInteger(branch) || branch < 0) throw new HgcError('ARG', `deepCache: branch must be an integer >= 0, got ${branch}`);
  return {
    name: `deepCache(interval=${interval}, branch=${branch})`,
    begin(info) {
      if (branch >= info.branches) throw new HgcError('ARG', `deepCache: branch ${branch} is out of range 0..${info.branches - 1}`);
    },
    plan(ctx): StepPlan {
      const full = ctx.index % interval === 0;
      return {
        cfg: ctx.cfg,
        block: full ? { kind: 'full' } : { kind: 'shallow', branch },
        storeBranch: full ? branch : undefined,
        controlnet: 'run',
        crossAttention: 'compute',
      };
    },
    memoryBytes: (info) => branchBytes(info, branch, false),
  };
}
