/**
 * The convolution section of `npm run bench:gpu`: the SD1.5 UNet's convolutions at 512×512 with CFG (batch 2),
 * f16 tensors (the kernel multiplies f16 on the tensor cores, cuda/conv2d.cu), plus one ResNet convolution with
 * its GroupNorm + SiLU fused. Rows: ms, TFLOP/s (2·N·Cout·OH·OW·Cin·k²) and % of the H100 SXM f16 dense peak
 * (989 TFLOP/s); where PyTorch with CUDA is present, PyTorch's time (cuDNN, channels-last f16,
 * bench/torch_conv.py) on the same inputs, hgc's speed as % of it and the normalised max difference. Issue
 * target: ≥ 0.8× cuDNN. Timing as in the other sections (back-to-back calls, then a synchronising read-back;
 * median of 5 samples after a warm-up).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { ops, randn, tensor } from '../src/index.js';
import { addTorchColumns, type GpuContext, type GpuSection, runTorchScript, type TorchColumns, torchCells } from './gpu-section.js';

const PEAK_TFLOPS_F16 = 989;

interface ConvShape {
  name: string;
  n: number;
  cin: number;
  hw: number;
  cout: number;
  k: number;
  stride: number;
  /** GroupNorm groups of a fused GroupNorm + SiLU of the input (0: none). */
  norm: number;
}

const shapes: ConvShape[] = [
  { name: 'conv_in 64² (4→320)', n: 2, cin: 4, hw: 64, cout: 320, k: 3, stride: 1, norm: 0 },
  { name: 'resnet 64² (320→320)', n: 2, cin: 320, hw: 64, cout: 320, k: 3, stride: 1, norm: 0 },
  { name: 'resnet 64² + GroupNorm/SiLU', n: 2, cin: 320, hw: 64, cout: 320, k: 3, stride: 1, norm: 32 },
  { name: 'downsample 64²→32² (320)', n: 2, cin: 320, hw: 64, cout: 320, k: 3, stride: 2, norm: 0 },
  { name: 'resnet 32² (640→640)', n: 2, cin: 640, hw: 32, cout: 640, k: 3, stride: 1, norm: 0 },
  { name: 'resnet 16² (1280→1280)', n: 2, cin: 1280, hw: 16, cout: 1280, k: 3, stride: 1, norm: 0 },
  { name: 'resnet 8² (1280→1280)', n: 2, cin: 1280, hw: 8, cout: 1280, k: 3, stride: 1, norm: 0 },
  { name: 'shortcut 1×1 64² (640→320)', n: 2, cin: 640, hw: 64, cout: 320, k: 1, stride: 1, norm: 0 },
];

/** A shape shrunk for --small (plumbing checks on cuda-sim): same kernel, stride and norm. */
const shrink = (s: ConvShape): ConvShape => ({ ...s, n: 1, cin: s.norm ? 2 * s.norm : Math.min(s.cin, 12), hw: 6, cout: 8 });

/** One row of the section's table and of --json. */
export interface ConvRow extends TorchColumns {
  section: 'conv';
  shape: string;
  /** "N×Cin×H×W → Cout, k×k / stride". */
  dims: string;
  dtype: 'f16';
  runs: number;
  ms: number;
  tflops: number;
  peakPct: number;
}

interface Measured { row: ConvRow; y: Float32Array; spec: Record<string, unknown> & { y: string } }

function timeConv(full: ConvShape, index: number, ctx: GpuContext): Measured {
  const s = ctx.small ? shrink(full) : full;
  const opts = { device: ctx.device, dtype: 'f16' as const };
  const x = randn([s.n, s.cin, s.hw, s.hw], { ...opts, seed: 1 });
  const w = randn([s.cout, s.cin, s.k, s.k], { ...opts, seed: 2 });
  const b = randn([s.cout], { ...opts, seed: 3 });
  const syncer = tensor([0], [1], { device: ctx.device });
  try {
    const pad = (s.k - 1) / 2, oh = Math.floor((s.hw + 2 * pad - s.k) / s.stride) + 1;
    const conv = () => ops.conv2d(x, w, { stride: s.stride, padding: pad, bias: b, ...(s.norm ? { norm: { groups: s.norm, silu: true } } : {}) });
    const first = conv();
    const y = ctx.dir ? first.toFloat32() : new Float32Array(0);
    first.dispose();
    const flops = 2 * s.n * s.cout * oh * oh * s.cin * s.k * s.k;
    const runs = ctx.small ? 2 : Math.max(3, Math.min(200, Math.round(2e11 / flops)));
    const sample = (): number => {
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) conv().dispose();
      syncer.toFloat32();  // a device → host copy waits for every launch before it
      return (performance.now() - t0) / runs;
    };
    sample();  // warm-up (allocator, first launches)
    const samples = Array.from({ length: ctx.small ? 3 : 5 }, sample).sort((p, q) => p - q);
    const ms = samples[samples.length >> 1]!;
    const tflops = flops / ms / 1e9;
    const files = Object.fromEntries(['x', 'w', 'b', 'y'].map((k) => [k, ctx.dir ? path.join(ctx.dir, `conv-${index}-${k}.f32`) : '']));
    if (ctx.dir) [x, w, b].forEach((t, i) => fs.writeFileSync(files[['x', 'w', 'b'][i]!]!, t.toFloat32()));  // exact in f16
    const row: ConvRow = {
      section: 'conv', shape: full.name, dims: `${s.n}×${s.cin}×${s.hw}×${s.hw} → ${s.cout}, ${s.k}×${s.k} / ${s.stride}`,
      dtype: 'f16', runs, ms, tflops, peakPct: (100 * tflops) / PEAK_TFLOPS_F16,
    };
    return { row, y, spec: { ...s, pad, runs, ...files, y: files.y! } };
  } finally {
    for (const t of [x, w, b, syncer]) t.dispose();
  }
}

export const convSection: GpuSection = {
  name: 'conv',
  run(ctx) {
    ctx.info(`conv (f16, batch 2): TFLOP/s = 2·N·Cout·OH·OW·Cin·k² / time; % of ${PEAK_TFLOPS_F16} TFLOP/s` +
      `${ctx.dir ? '; PyTorch runs F.conv2d (cuDNN, channels-last f16) on the same data' : ''}`);
    const measured = shapes.map((s, i) => timeConv(s, i, ctx));
    if (ctx.dir) {
      const times = runTorchScript<{ ms: number }[]>(ctx, 'torch_conv.py', measured.map((m) => m.spec));
      times?.forEach((t, i) => addTorchColumns(measured[i]!.row, t.ms, measured[i]!.y, measured[i]!.spec.y));
    }
    const rows = measured.map((m) => m.row);
    if (!ctx.json) {
      ctx.info('| convolution | dims | ms | TFLOP/s | % of H100 f16 peak | torch ms | % of torch | max diff |');
      ctx.info('|---|---|---:|---:|---:|---:|---:|---:|');
      for (const r of rows) {
        ctx.info(`| ${r.shape} | ${r.dims} | ${r.ms.toFixed(4)} | ${r.tflops.toFixed(1)} | ${r.peakPct.toFixed(1)}% | ` +
          torchCells(r, 4));
      }
      ctx.info('');
    }
    return rows;
  },
};
