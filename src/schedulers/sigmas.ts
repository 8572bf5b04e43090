/** @internal σ schedules of the σ-parameterised schedulers (Euler, DPM-Solver, UniPC), as diffusers builds them. */
import { HgcError } from '../errors.js';
import { sigmaFromAlphaCumprod } from './betas.js';

/** What follows the last inference σ: 0 (default) or the smallest training σ. */
export type FinalSigmasType = 'zero' | 'sigma_min';

/** `np.interp(x, arange(len(ys)), ys)` for 0 ≤ x ≤ len − 1. */
function interpUnitGrid(x: number, ys: readonly number[]): number {
  const last = ys.length - 1;
  if (x >= last) return ys[last]!;
  const j = Math.floor(x);
  if (j === x) return ys[j]!;
  return (ys[j + 1]! - ys[j]!) * (x - j) + ys[j]!;
}

/** σ at each training timestep (float32 values). */
export function trainingSigmas(alphasCumprod: readonly number[]): number[] {
  return alphasCumprod.map(sigmaFromAlphaCumprod);
}

/** σ at each inference timestep (linear interpolation in t, rounded to float32) plus the final σ. */
export function inferenceSigmas(timesteps: readonly number[], trainSigmas: readonly number[], finalType: FinalSigmasType,
  who: string): number[] {
  if (finalType !== 'zero' && finalType !== 'sigma_min') {
    throw new HgcError('ARG', `${who}: finalSigmasType must be 'zero' or 'sigma_min', got '${String(finalType)}'`);
  }
  const sig = timesteps.map((t) => Math.fround(interpUnitGrid(t, trainSigmas)));
  sig.push(finalType === 'zero' ? 0 : trainSigmas[0]!);
  return sig;
}

/** (α_t, σ_t) of the VP process for a Karras σ: α = 1/√(σ² + 1), σ_t = σ·α. */
export function alphaSigma(sigma: number): { alpha: number; sigmaT: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigmaT: sigma * alpha };
}

/** λ = log α − log σ_t (+∞ at σ = 0). */
export function lambdaOf(sigma: number): number {
  const { alpha, sigmaT } = alphaSigma(sigma);
  return Math.log(alpha) - Math.log(sigmaT);
}
