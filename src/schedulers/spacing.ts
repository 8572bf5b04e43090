/**
 * Inference timesteps from the training range, following diffusers' `timestep_spacing` options exactly
 * (NumPy float64 arithmetic, round-half-to-even), in descending order.
 */
import { HgcError } from '../errors.js';

/** How the inference timesteps are spread over the training range (diffusers' `timestep_spacing`). */
export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';

/** `np.round`: ties go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const fl = Math.floor(x);
  const d = x - fl;
  if (d < 0.5) return fl;
  if (d > 0.5) return fl + 1;
  return fl % 2 === 0 ? fl : fl + 1;
}

/** `np.linspace(start, stop, n)` (endpoint included, computed as i·step + start). */
export function linspace(start: number, stop: number, n: number): number[] {
  if (n === 1) return [start];
  const step = (stop - start) / (n - 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(i * step + start);
  out[n - 1] = stop;
  return out;
}

/** `np.arange(start, 0, -step)` for float steps (NumPy fills start + i·delta with delta = (start − step) − start). */
function arangeDown(start: number, step: number): number[] {
  const n = Math.ceil(start / step);
  const delta = (start - step) - start;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(start + i * delta);
  return out;
}

function checkSpacing(spacing: string): void {
  if (spacing !== 'leading' && spacing !== 'linspace' && spacing !== 'trailing') {
    throw new HgcError('ARG', `timestepSpacing must be 'leading', 'linspace' or 'trailing', got '${spacing}'`);
  }
}

/**
 * One timestep per step, as DDIM and Euler space them. `linspace` is left unrounded when `exactLinspace`
 * (Euler's float timesteps, rounded to float32); every other case gives integers.
 */
export function singleStepTimesteps(spacing: TimestepSpacing, numTrain: number, steps: number, stepsOffset: number,
  exactLinspace = false): number[] {
  checkSpacing(spacing);
  if (spacing === 'linspace') {
    const ts = linspace(0, numTrain - 1, steps).reverse();
    return exactLinspace ? ts.map(Math.fround) : ts.map(roundHalfEven);
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / steps);
    const ts: number[] = [];
    for (let i = steps - 1; i >= 0; i--) ts.push(i * ratio + stepsOffset);
    return ts;
  }
  return arangeDown(numTrain, numTrain / steps).map((t) => roundHalfEven(t) - 1);
}

/** The multistep solvers' (DPM-Solver, UniPC) spacing: steps + 1 points, the last (t = 0 side) dropped. */
export function multistepTimesteps(spacing: TimestepSpacing, numTrain: number, steps: number, stepsOffset: number): number[] {
  checkSpacing(spacing);
  if (spacing === 'linspace') return linspace(0, numTrain - 1, steps + 1).map(roundHalfEven).reverse().slice(0, steps);
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / (steps + 1));
    const ts: number[] = [];
    for (let i = steps; i >= 1; i--) ts.push(i * ratio + stepsOffset);
    return ts;
  }
  return arangeDown(numTrain, numTrain / steps).map((t) => roundHalfEven(t) - 1);
}
