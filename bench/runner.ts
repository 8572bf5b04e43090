/** Runs one case in hgc and in ONNX Runtime with the same thread count, checks they agree, times both. */
import type { Built, Case } from './cases.js';
import { medianMs, sampler } from './timing.js';

export type Ort = typeof import('onnxruntime-node');

export interface Row {
  name: string;
  /** hgc median ms. */
  ms: number;
  gflops?: number;
  gbps?: number;
  /** % of the theoretical FMA peak (flops cases) or of measured copy bandwidth (bytes cases). */
  peakPct: number;
  ortMs: number | null;
  /** ORT time / hgc time: > 1 means hgc is faster. */
  ortRatio: number | null;
  /** max |hgc − ORT| / max |ORT|. */
  maxDiff: number | null;
  /** Why ORT could not run the case, when it could not. */
  ortError?: string;
}

export interface Limits {
  threads: number;
  peakGflops: number;
  copyGbps: number;
}

function maxNormalisedDiff(a: Float32Array, ref: Float32Array): number {
  if (a.length !== ref.length) return Infinity;
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / Math.max(scale, 1e-30); // NaN anywhere makes this NaN, which fails the < 1e-3 check
}

/** An ORT session for the case, its sampler and its first output; throws with ORT's message if it cannot run. */
async function openOrt(ort: Ort, work: Built['ort'], threads: number) {
  const { model, feeds } = work();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  try {
    const inputs = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.shape)]));
    const run = () => session.run(inputs);
    const out = Object.values(await run())[0]!.data as Float32Array;
    return { session, sample: sampler(run), out };
  } catch (e) {
    await session.release();
    throw e;
  }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/**
 * hgc is timed first, then ORT, each in its own block rather than alternately: ORT's worker threads spin for
 * a while after each run and would steal a core from an hgc run that follows (hgc's pool sleeps when idle).
 */
export async function runCase(c: Case, ort: Ort | string, limits: Limits): Promise<Row> {
  const built = c.build();
  let ortSide: Awaited<ReturnType<typeof openOrt>> | undefined;
  try {
    const first = built.hgc();
    const hgcOut = first.data() as Float32Array;
    first.dispose();
    const ms = await medianMs(sampler(built.hgc, (t) => t.dispose()));
    const rate = 'flops' in c.work ? c.work.flops / ms / 1e6 : c.work.bytes / ms / 1e6;
    const row: Row = 'flops' in c.work
      ? { name: c.name, ms, gflops: rate, peakPct: (100 * rate) / limits.peakGflops, ortMs: null, ortRatio: null, maxDiff: null }
      : { name: c.name, ms, gbps: rate, peakPct: (100 * rate) / limits.copyGbps, ortMs: null, ortRatio: null, maxDiff: null };
    if (typeof ort === 'string') return { ...row, ortError: ort };
    try {
      ortSide = await openOrt(ort, built.ort, limits.threads);
    } catch (e) {
      return { ...row, ortError: message(e) };
    }
    const ortMs = await medianMs(ortSide.sample);
    return { ...row, ortMs, ortRatio: ortMs / ms, maxDiff: maxNormalisedDiff(hgcOut, ortSide.out) };
  } finally {
    await ortSide?.session.release(); // joins ORT's threads before the next case's hgc runs
    built.dispose();
  }
}
