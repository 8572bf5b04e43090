/**
 * The seam between `npm run bench:gpu` (bench/gpu.ts) and its sections (GEMM, pointwise, ...): what a section
 * gets to run with, and the helpers that every section's PyTorch comparison shares. A new section implements
 * {@link GpuSection} and is added to the list in bench/gpu.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** H100 SXM HBM3 bandwidth, the roofline of memory-bound ops (GB/s). */
export const H100_HBM_GBPS = 3350;

export interface GpuContext {
  device: 'cuda' | 'cuda-sim';
  /**
   * Tiny shapes and few repetitions: checks that the benchmark's plumbing (inputs, timing, the PyTorch
   * exchange, the output) works, e.g. on `cuda-sim`. Its times measure nothing.
   */
  small: boolean;
  /** Where sections exchange inputs and results with their PyTorch script; null when torch is unavailable. */
  dir: string | null;
  json: boolean;
  /** Progress and tables (stderr under --json, so that stdout holds only the JSON). */
  info(line: string): void;
}

export interface GpuSection {
  name: string;
  /** Runs the section's cases, prints its table unless `ctx.json`, and returns its rows for --json. */
  run(ctx: GpuContext): object[];
}

/** null when `python3` has torch (with CUDA) and numpy, else why not. */
export function torchAvailable(): string | null {
  const r = spawnSync('python3', ['-c', 'import torch, numpy; assert torch.cuda.is_available()'], { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.error?.message || 'python3 failed').trim().split('\n').pop()!;
}

/** max |y − ref| / max |ref| (NaN anywhere gives NaN; a length mismatch gives Infinity). */
export function maxDiff(y: Float32Array, ref: Float32Array): number {
  if (y.length !== ref.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(y[i]! - ref[i]!));
    den = Math.max(den, Math.abs(ref[i]!));
  }
  return num / Math.max(den, 1e-30);
}

/** A raw little-endian f32 file as a Float32Array of its own (readFileSync may return a pooled view). */
export function readF32(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/**
 * Runs `python3 bench/<script> SPEC.json` on `spec` (written to ctx.dir) and returns its parsed stdout, or
 * null (after saying why) when it failed.
 */
export function runTorchScript<T>(ctx: GpuContext, script: string, spec: unknown): T | null {
  const specFile = path.join(ctx.dir!, `${path.basename(script, '.py')}-spec.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const file = path.join(__dirname, '..', '..', 'bench', script);
  const r = spawnSync('python3', [file, specFile], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    ctx.info(`PyTorch comparison (${script}) failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    return null;
  }
  return JSON.parse(r.stdout) as T;
}

/** The PyTorch columns of a row, filled where torch with CUDA is present. */
export interface TorchColumns {
  /** PyTorch's time for the same op on the same data (ms). */
  torchMs?: number;
  /** hgc speed as % of PyTorch's: 100 · torchMs / ms. */
  pctOfTorch?: number;
  /** max |hgc − torch| / max |torch|. */
  maxDiff?: number;
}

/** Fills `row`'s PyTorch columns from torch's time and the result file its script wrote. */
export function addTorchColumns(row: { ms: number } & TorchColumns, torchMs: number, y: Float32Array, torchResultFile: string): void {
  Object.assign(row, { torchMs, pctOfTorch: (100 * torchMs) / row.ms, maxDiff: maxDiff(y, readF32(torchResultFile)) });
}

/** The last three cells of a table row: torch ms (with `digits` decimals), % of torch, max diff. */
export function torchCells(r: TorchColumns, digits: number): string {
  const ms = r.torchMs === undefined ? '-' : r.torchMs.toFixed(digits);
  const pct = r.pctOfTorch === undefined ? '-' : `${r.pctOfTorch.toFixed(1)}%`;
  return `${ms} | ${pct} | ${r.maxDiff === undefined ? '-' : r.maxDiff.toExponential(1)} |`;
}
