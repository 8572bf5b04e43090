/** Sinusoidal timestep embedding (diffusers' get_timestep_embedding). */
import { check } from '../errors.js';
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import { checkOptions, output, requireTensor, shapeStr } from './common.js';

/** Options of {@link timestepEmbedding}. */
export interface TimestepEmbeddingOptions {
  /** Put cos first (SD's UNet: true). */
  flipSinToCos?: boolean;
  /** Frequency shift (SD's UNet: 0; default 1 as in diffusers' function). */
  downscaleFreqShift?: number;
  /** Multiplier of the arguments (default 1). */
  scale?: number;
  /** Default 10000. */
  maxPeriod?: number;
}

/** timesteps [N] → [N, dim]: [sin(t·f_j), cos(t·f_j)] with f_j = maxPeriod^(−j/(dim/2 − shift)). */
export function timestepEmbedding(timesteps: Tensor, dim: number, opts?: TimestepEmbeddingOptions): Tensor {
  const o = checkOptions(opts, 'timestepEmbedding');
  requireTensor(timesteps, 'timestepEmbedding: timesteps');
  check(timesteps.rank === 1, 'SHAPE', () => `timestepEmbedding: timesteps must be 1-d, got ${shapeStr(timesteps.shape)}`);
  check(Number.isInteger(dim) && dim >= 2, 'ARG', () => `timestepEmbedding: dim must be an integer >= 2, got ${dim}`);
  const shift = o.downscaleFreqShift ?? 1;
  check(Math.floor(dim / 2) !== shift, 'ARG', 'timestepEmbedding: dim/2 equals downscaleFreqShift (division by zero)');
  return output(timesteps.device, [timesteps.shape[0]!, dim], timesteps.dtype, () => native.timestepEmbedding(timesteps.handle, dim, {
    flipSinToCos: o.flipSinToCos ?? false, downscaleFreqShift: shift, scale: o.scale ?? 1, maxPeriod: o.maxPeriod ?? 10000,
  }));
}
