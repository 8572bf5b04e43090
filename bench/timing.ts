/** Median wall-clock time of a repeated (sync or async) call, after warm-up. */
import { performance } from 'node:perf_hooks';

/** One timed call: returns its elapsed ms (cleanup such as disposing outputs happens after the clock stops). */
export type Sampler = () => Promise<number>;

/** Wraps a (sync or async) call into a Sampler; `release` gets each result after the clock stopped. */
export function sampler<T>(fn: () => T | Promise<T>, release: (r: T) => void = () => {}): Sampler {
  return async () => {
    const t = performance.now();
    const r = await fn();
    const ms = performance.now() - t;
    release(r);
    return ms;
  };
}

export interface TimingOptions {
  warmup?: number;
  /** At least this many timed runs (default 5)... */
  minRuns?: number;
  /** ...and keep going until this much time was spent timing (default 1 s), up to maxRuns (default 50). */
  minTotalMs?: number;
  maxRuns?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Warms the sampler up, then returns the median ms of its timed runs. */
export async function medianMs(sample: Sampler, opts: TimingOptions = {}): Promise<number> {
  const { warmup = 2, minRuns = 5, minTotalMs = 1000, maxRuns = 50 } = opts;
  for (let i = 0; i < warmup; i++) await sample();
  const samples: number[] = [];
  let total = 0;
  while (samples.length < minRuns || (total < minTotalMs && samples.length < maxRuns)) {
    const ms = await sample();
    samples.push(ms);
    total += ms;
  }
  return median(samples);
}
