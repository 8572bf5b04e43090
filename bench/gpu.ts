/**
 * `npm run bench:gpu`: the GPU benchmark's entry point and its GEMM section. GEMM on the `cuda` device:
 * SD1.5-shaped linear layers (x · Wᵀ, tokens × in → out) plus a square probe, in f16, bf16 (tensor cores)
 * and f32 (SIMT). Prints ms, TFLOP/s and % of the H100 SXM dense peak (989 TFLOP/s f16/bf16, 67 TFLOP/s
 * f32) and, where `python3 -c 'import torch'` finds CUDA, PyTorch's (cuBLAS) time on the same inputs
 * (bench/torch_gemm.py), hgc's speed as % of it, and the normalised max difference of the two results.
 * `npm run bench:gpu [-- --json]`; exits quietly (with the reason) where no CUDA device is available.
 *
 * The benchmark runs a list of sections (this file's GEMM section, bench/gpu-pointwise.ts, ...; see
 * bench/gpu-section.ts). Options: `--json`; `--section NAME` (repeatable: run only those); `--device cuda-sim
 * --small`, a plumbing check on the simulator with tiny shapes (sections without small shapes skip it), which
 * measures nothing.
 *
 * Timing: kernel launches are asynchronous, so each sample times `runs` back-to-back products and then a
 * 1×1 product whose 2-byte read-back waits for all of them (the read-back is synchronous on the default
 * stream), divided by `runs`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { devices, ops, randn, tensor, type Tensor } from '../src/index.js';
import { attentionSection } from './gpu-attention.js';
import { convSection } from './gpu-conv.js';
import { pointwiseSection } from './gpu-pointwise.js';
import { stepSection } from './gpu-step.js';
import { addTorchColumns, type GpuContext, type GpuSection, runTorchScript, type TorchColumns, torchAvailable, torchCells } from './gpu-section.js';

type DType = 'f16' | 'bf16' | 'f32';
const PEAK_TFLOPS: Record<DType, number> = { f16: 989, bf16: 989, f32: 67 };

interface GemmShape {
  name: string;
  m: number;
  k: number;
  n: number;
}

// Batch 2 (classifier-free guidance) at 512×512: 64² latent tokens at level 0, 32², 16², 8² below; text 77.
const shapes: GemmShape[] = [
  { name: 'probe 4096³', m: 4096, k: 4096, n: 4096 },
  { name: 'attn proj 64² (320→320)', m: 8192, k: 320, n: 320 },
  { name: 'ff in 64² (320→2560 GEGLU)', m: 8192, k: 320, n: 2560 },
  { name: 'ff out 64² (1280→320)', m: 8192, k: 1280, n: 320 },
  { name: 'attn proj 32² (640→640)', m: 2048, k: 640, n: 640 },
  { name: 'ff in 16² (1280→10240)', m: 512, k: 1280, n: 10240 },
  { name: 'cross k/v (768→320)', m: 154, k: 768, n: 320 },
];

interface Row extends TorchColumns {
  shape: string;
  dtype: DType;
  ms: number;
  tflops: number;
  peakPct: number;
}

interface Measured {
  shape: GemmShape;
  row: Row;
  runs: number;
  y: Float32Array;
  files: { x: string; w: string; y: string };
}

function sync(device: 'cuda'): void {
  const one = tensor([1], [1, 1], { device });
  ops.matmul(one, one).toFloat32();
}

function timeGemm(s: GemmShape, dtype: DType, dir: string | null): Measured {
  const device = 'cuda' as const;
  const x = randn([s.m, s.k], { device, dtype, seed: 1 });
  const w = randn([s.n, s.k], { device, dtype, seed: 2 });
  const flops = 2 * s.m * s.k * s.n;
  const runs = Math.max(3, Math.min(200, Math.round(2e12 / flops)));
  const outs: Tensor[] = [];
  const sample = (): number => {
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) outs.push(ops.matmul(x, w, { transB: true }));
    sync(device);
    const ms = (performance.now() - t0) / runs;
    for (const o of outs.splice(0)) o.dispose();
    return ms;
  };
  sample();  // warm-up (allocator, first launch)
  const samples = Array.from({ length: 5 }, sample).sort((a, b) => a - b);
  const yt = ops.matmul(x, w, { transB: true });
  const y = dir ? yt.toFloat32() : new Float32Array(0);
  const tag = `${s.m}x${s.k}x${s.n}-${dtype}`;
  const files = dir
    ? { x: path.join(dir, `${tag}-x.f32`), w: path.join(dir, `${tag}-w.f32`), y: path.join(dir, `${tag}-y.f32`) }
    : { x: '', w: '', y: '' };
  if (dir) {  // the same inputs for PyTorch, as f32 (exactly representable in dtype)
    fs.writeFileSync(files.x, x.toFloat32());
    fs.writeFileSync(files.w, w.toFloat32());
  }
  for (const t of [x, w, yt]) t.dispose();
  const ms = samples[2]!;
  const tflops = flops / ms / 1e9;
  return { shape: s, row: { shape: s.name, dtype, ms, tflops, peakPct: (100 * tflops) / PEAK_TFLOPS[dtype] }, runs, y, files };
}

/** Runs bench/torch_gemm.py on the saved inputs and fills in the PyTorch columns. */
function compareWithTorch(measured: Measured[], ctx: GpuContext): void {
  const spec = measured.map(({ shape: s, row, runs, files }) => ({ m: s.m, k: s.k, n: s.n, dtype: row.dtype, runs, ...files }));
  const times = runTorchScript<{ ms: number }[]>(ctx, 'torch_gemm.py', spec);
  if (!times) return;
  measured.forEach((m, i) => addTorchColumns(m.row, times[i]!.ms, m.y, m.files.y));
}

const gemmSection: GpuSection = {
  name: 'gemm',
  run(ctx) {
    const { dir, info } = ctx;
    if (ctx.device !== 'cuda' || ctx.small) {
      info('gemm: no small shapes; skipped (runs only on cuda at full size)');
      return [];
    }
    info(dir ? 'gemm: comparing with torch.matmul (cuBLAS) on the same inputs' : 'gemm:');
    const measured: Measured[] = [];
    for (const s of shapes) for (const dtype of ['f16', 'bf16', 'f32'] as const) measured.push(timeGemm(s, dtype, dir));
    if (dir) compareWithTorch(measured, ctx);
    const rows = measured.map((m) => m.row);
    if (ctx.json) return rows.map((r) => ({ section: 'gemm', ...r }));
    info('| shape | dtype | ms | TFLOP/s | % of H100 SXM peak | torch ms | % of torch | max diff |');
    info('|---|---|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      info(`| ${r.shape} | ${r.dtype} | ${r.ms.toFixed(3)} | ${r.tflops.toFixed(1)} | ${r.peakPct.toFixed(1)}% | ` +
        torchCells(r, 3));
    }
    info('');
    return rows.map((r) => ({ section: 'gemm', ...r }));
  },
};

/** The benchmark's sections, run in this order; a new one is added here the same way. */
const sections: GpuSection[] = [gemmSection, pointwiseSection, attentionSection, convSection, stepSection];

function argValues(flag: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a === flag && i + 1 < process.argv.length) out.push(process.argv[i + 1]!);
  });
  return out;
}

function main(): void {
  const json = process.argv.includes('--json');
  const small = process.argv.includes('--small');
  const info = (line: string): void => void (json ? process.stderr : process.stdout).write(`${line}\n`);
  const device = argValues('--device').pop() ?? 'cuda';
  const wanted = argValues('--section');
  const fail = (msg: string): void => {
    process.stderr.write(`bench:gpu: ${msg}\n`);
    process.exitCode = 2;
  };
  if (device !== 'cuda' && device !== 'cuda-sim') return fail(`--device must be cuda or cuda-sim, got '${device}'`);
  if (device === 'cuda-sim' && !small) return fail('--device cuda-sim needs --small (a plumbing check, not a measurement)');
  const unknown = wanted.filter((w) => !sections.some((s) => s.name === w));
  if (unknown.length) return fail(`unknown --section ${unknown.join(', ')} (sections: ${sections.map((s) => s.name).join(', ')})`);
  const dev = devices().find((d) => d.name === device);
  if (!dev?.available) {
    info(`${device} unavailable${dev?.reason ? `: ${dev.reason}` : ''}; nothing to benchmark`);
    if (json) process.stdout.write('[]\n');
    return;
  }
  if (small) info(`--small on ${device}: a plumbing check with tiny shapes; the times below measure nothing`);
  const noTorch = torchAvailable();
  info(noTorch ? `PyTorch comparison skipped: ${noTorch}` : 'PyTorch found: comparing on the same inputs');
  const dir = noTorch ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-bench-gpu-'));
  try {
    const ctx: GpuContext = { device, small, dir, json, info };
    const rows = sections.filter((s) => !wanted.length || wanted.includes(s.name)).flatMap((s) => s.run(ctx));
    if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
