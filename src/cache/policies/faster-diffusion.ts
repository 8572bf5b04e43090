/**
 * Faster-Diffusion encoder propagation (Li et al., NeurIPS'24): the UNet encoder and the ControlNet run only on
 * key steps; on the others the decoder runs on the key step's encoder outputs (skips with ControlNet residuals
 * already added, and the mid-block output).
 */
import { HgcError } from '../../errors.js';
import type { CachePolicy, StepPlan } from '../policy.js';
import { encoderBytes } from './memory.js';

/** Options of {@link fasterDiffusion}. */
export interface FasterDiffusionOptions {
  /** Key steps (0-based). Default: the '50ls' preset [0,1,2,3,5,10,15,25,35] scaled to the step count. */
  keySteps?: number[];
}

/** The '50ls' preset of Faster-Diffusion's code, scaled from 50 steps to `steps`. */
export function defaultKeySteps(steps: number): number[] {
  const preset = [0, 1, 2, 3, 5, 10, 15, 25, 35];
  return [...new Set(preset.map((k) => Math.round((k * steps) / 50)))].filter((k) => k < steps);
}

/**
 * Faster-Diffusion's encoder propagation: on key steps (step 0 is always one) the whole UNet and the ControlNet
 * run and the encoder outputs are stored; on the other steps only the UNet decoder runs, on those outputs.
 * HgcError('ARG') for key steps that are not non-negative integers.
 */
export function fasterDiffusion(opts: FasterDiffusionOptions = {}): CachePolicy {
  if (opts.keySteps && (!Array.isArray(opts.keySteps) || !opts.keySteps.every((k) => Number.isInteger(k) && k >= 0))) {
    throw new HgcError('ARG', `fasterDiffusion: keySteps must be non-negative integers, got ${JSON.stringify(opts.keySteps)}`);
  }
  let keys = new Set<number>();
  return {
    name: `fasterDiffusion(keySteps=${opts.keySteps ? JSON.stringify(opts.keySteps) : '50ls'})`,
    begin(info) {
      keys = new Set(opts.keySteps ?? defaultKeySteps(info.totalSteps));
      keys.add(0);
    },
    plan(ctx): StepPlan {
      const key = keys.has(ctx.index);
      return {
        cfg: ctx.cfg,
        block: key ? { kind: 'full' } : { kind: 'decoder' },
        storeEncoder: key,
        controlnet: 'run',
        crossAttention: 'compute',
      };
    },
    memoryBytes: (info) => encoderBytes(info),
  };
}
