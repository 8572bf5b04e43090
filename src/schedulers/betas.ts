/**
 * Noise schedules: betas, cumulative alphas and the Karras-style sigmas σ = √((1 − ᾱ) / ᾱ).
 *
 * The values reproduce diffusers (PyTorch float32 on x86 CPU) bit for bit: `torch.linspace` in float32, squared in
 * float32; ᾱ = cumprod(1 − β) with a float64 accumulator rounded to float32 after each factor; σ in float32.
 * Everything is returned as JS numbers holding those float32 values.
 */
import { HgcError } from '../errors.js';

const f32 = Math.fround;

/** The beta schedules implemented here. */
export type BetaSchedule = 'linear' | 'scaled_linear';

/**
 * `torch.linspace(start, end, n, dtype=float32)` as PyTorch's CPU kernel computes it: a float32 step, the first half
 * counted up from `start` and the second half down from `end`, in 8-wide vector chunks (two per loop iteration)
 * whose first element is a fused multiply-add, then element j of a chunk at base + j·step; the tail is scalar.
 */
export function torchLinspaceF32(start: number, end: number, n: number): number[] {
  const a = f32(start), b = f32(end);
  if (n === 1) return [a];
  const step = f32(f32(b - a) / (n - 1));
  const half = Math.floor(n / 2);
  const out = new Array<number>(n);
  const vec = 8;
  let i = 0;
  for (; i + 2 * vec <= n; i += 2 * vec) {
    for (const c0 of [i, i + vec]) {
      const base = c0 < half ? f32(a + step * c0) : f32(b - step * (n - c0 - 1));
      for (let j = 0; j < vec; j++) out[c0 + j] = f32(base + f32(j * step));
    }
  }
  for (; i < n; i++) out[i] = i < half ? f32(a + f32(step * i)) : f32(b - f32(step * (n - 1 - i)));
  return out;
}

/** β_t for t = 0 … numTrainTimesteps−1 (float32 values). */
export function makeBetas(schedule: BetaSchedule, betaStart: number, betaEnd: number, numTrainTimesteps: number): number[] {
  if (schedule === 'linear') return torchLinspaceF32(betaStart, betaEnd, numTrainTimesteps);
  if (schedule === 'scaled_linear') {
    return torchLinspaceF32(Math.sqrt(betaStart), Math.sqrt(betaEnd), numTrainTimesteps).map((x) => f32(x * x));
  }
  throw new HgcError('ARG', `betaSchedule must be 'linear' or 'scaled_linear', got '${String(schedule)}'`);
}

/** ᾱ_t = ∏_{s≤t} (1 − β_s): float32 factors, float64 running product, each output rounded to float32. */
export function alphasCumprod(betas: readonly number[]): number[] {
  const out = new Array<number>(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - betas[i]!);
    out[i] = f32(acc);
  }
  return out;
}

/** σ_t = √((1 − ᾱ_t) / ᾱ_t), each operation in float32 (as diffusers computes it on a float32 tensor). */
export function sigmaFromAlphaCumprod(alphaCumprod: number): number {
  return f32(Math.sqrt(f32(f32(1 - alphaCumprod) / alphaCumprod)));
}
