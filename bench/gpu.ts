/**
 * GEMM benchmark on the `cuda` device: SD1.5-shaped linear layers (x · Wᵀ, tokens × in → out) plus a square
 * probe, in f16, bf16 (tensor cores) and f32 (SIMT). Prints ms, TFLOP/s and % of the H100 SXM dense peak
 * (989 TFLOP/s f16/bf16, 67 TFLOP/s f32). `npm run bench:gpu [-- --json]`; exits quietly (with the
 * reason) where no CUDA device is available.
 *
 * Timing: kernel launches are asynchronous, so each sample times `runs` back-to-back products and then a
 * 1×1 product whose 2-byte read-back waits for all of them (the read-back is synchronous on the default
 * stream), divided by `runs`.
 */
import { performance } from 'node:perf_hooks';

import { devices, ops, randn, tensor, type Tensor } from '../src/index.js';

const json = process.argv.includes('--json');
const info = (line: string): void => void (json ? process.stderr : process.stdout).write(`${line}\n`);

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

interface Row {
  shape: string;
  dtype: DType;
  ms: number;
  tflops: number;
  peakPct: number;
}

function sync(device: 'cuda'): void {
  const one = tensor([1], [1, 1], { device });
  ops.matmul(one, one).toFloat32();
}

function timeGemm(s: GemmShape, dtype: DType): Row {
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
  x.dispose();
  w.dispose();
  const ms = samples[2]!;
  const tflops = flops / ms / 1e9;
  return { shape: s.name, dtype, ms, tflops, peakPct: (100 * tflops) / PEAK_TFLOPS[dtype] };
}

function main(): void {
  const cuda = devices().find((d) => d.name === 'cuda');
  if (!cuda?.available) {
    info(`cuda unavailable${cuda?.reason ? `: ${cuda.reason}` : ''}; nothing to benchmark`);
    if (json) process.stdout.write('[]\n');
    return;
  }
  const rows: Row[] = [];
  for (const s of shapes) for (const dtype of ['f16', 'bf16', 'f32'] as const) rows.push(timeGemm(s, dtype));
  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  info('| shape | dtype | ms | TFLOP/s | % of H100 SXM peak |');
  info('|---|---|---:|---:|---:|');
  for (const r of rows) info(`| ${r.shape} | ${r.dtype} | ${r.ms.toFixed(3)} | ${r.tflops.toFixed(1)} | ${r.peakPct.toFixed(1)}% |`);
}

main();
