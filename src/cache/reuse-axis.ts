/**
 * Positions of steps along a reuse axis (StepPlan.reuseAxis): cached features are extrapolated as polynomials of
 * this coordinate. The step index treats the schedule as uniform; σ and the log-SNR follow the noise schedule,
 * which UniPC/DDIM spacing makes far from linear in the index (σ falls from 14.6 to 0.23 over SD1.5's 20 steps,
 * most of it in the first few).
 */
import { HgcError } from '../errors.js';
import type { ReuseAxis, StepContext } from './policy.js';

/** The axes a plan may name. */
export const reuseAxes: readonly ReuseAxis[] = Object.freeze(['step', 'timestep', 'sigma', 'logSnr']);

/** ARG unless `axis` is a known reuse axis (undefined means 'step'). */
export function checkReuseAxis(axis: unknown, who: string): ReuseAxis {
  if (axis === undefined) return 'step';
  if (!reuseAxes.includes(axis as ReuseAxis)) throw new HgcError('ARG', `${who}: reuseAxis must be one of ${reuseAxes.join(', ')}, got ${String(axis)}`);
  return axis as ReuseAxis;
}

/**
 * The coordinate of step `ctx` on `axis`. HgcError('ARG') when the axis needs ᾱ and the context has none, or when
 * ᾱ is not in (0, 1).
 */
export function reusePosition(ctx: StepContext, axis: ReuseAxis | undefined): number {
  switch (axis ?? 'step') {
    case 'step': return ctx.index;
    case 'timestep': return ctx.timestep;
    default: {
      const a = ctx.alphaCumprod;
      if (a === undefined || !(a > 0 && a < 1)) {
        throw new HgcError('ARG', `reuseAxis '${axis}' needs the step's alphaCumprod in (0, 1), got ${String(a)} at step ${ctx.index}`);
      }
      return axis === 'sigma' ? Math.sqrt((1 - a) / a) : Math.log(a / (1 - a));
    }
  }
}

/** ᾱ at a (possibly fractional) training timestep, interpolated linearly between the integer timesteps. */
export function alphaCumprodAt(alphasCumprod: readonly number[], timestep: number): number | undefined {
  const n = alphasCumprod.length;
  if (n === 0 || !Number.isFinite(timestep)) return undefined;
  const t = Math.min(n - 1, Math.max(0, timestep));
  const lo = Math.floor(t), hi = Math.min(n - 1, lo + 1), f = t - lo;
  return alphasCumprod[lo]! * (1 - f) + alphasCumprod[hi]! * f;
}
