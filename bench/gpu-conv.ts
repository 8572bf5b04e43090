/**
 * Convolution benchmark on the `cuda` device: the SD1.5 UNet's convolutions at 512×512 with CFG (batch 2),
 * f16 tensors (the kernel multiplies f16 on the tensor cores, cuda/conv2d.cu), plus one ResNet convolution
 * with its GroupNorm + SiLU fused. Prints ms, TFLOP/s and % of the H100 SXM f16 dense peak (989 TFLOP/s) and,
 * where `python3 -c 'import torch'` finds CUDA, PyTorch's time (cuDNN, channels-last f16, bench/torch_conv.py)
 * on the same inputs, hgc's speed as % of it and the normalised max difference of the two results.
 * `npm run bench:gpu-conv [-- --json]`; exits quietly (with the reason) where no CUDA device is available.
 *
 * Timing: each sample times `runs` back-to-back convolutions, then a 1×1 convolution whose read-back waits for
 * all of them (read-backs are synchronous on the default stream), divided by `runs`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { devices, ops, randn, tensor, type Tensor } from '../src/index.js';

const json = process.argv.includes('--json');
const info = (line: string): void => void (json ? process.stderr : process.stdout).write(`${line}\n`);
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

interface Row {
  shape: string;
  ms: number;
  tflops: number;
  peakPct: number;
  torchMs?: number;
  /** hgc speed as % of PyTorch's: 100 · torchMs / ms. */
  pctOfTorch?: number;
  /** max |hgc − torch| / max |torch|. */
  maxDiff?: number;
}

interface Measured {
  shape: ConvShape;
  row: Row;
  runs: number;
  y: Float32Array;
  files: { x: string; w: string; b: string; y: string };
}

function torchAvailable(): string | null {
  const r = spawnSync('python3', ['-c', 'import torch, numpy; assert torch.cuda.is_available()'], { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.error?.message || 'python3 failed').trim().split('\n').pop()!;
}

function maxDiff(y: Float32Array, ref: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(y[i]! - ref[i]!));
    den = Math.max(den, Math.abs(ref[i]!));
  }
  return num / Math.max(den, 1e-30);
}

function sync(): void {
  const one = tensor([1], [1, 1, 1, 1], { device: 'cuda' });
  ops.conv2d(one, one).toFloat32();
}

function timeConv(s: ConvShape, dir: string | null): Measured {
  const opts = { device: 'cuda' as const, dtype: 'f16' as const };
  const x = randn([s.n, s.cin, s.hw, s.hw], { ...opts, seed: 1 });
  const w = randn([s.cout, s.cin, s.k, s.k], { ...opts, seed: 2 });
  const b = randn([s.cout], { ...opts, seed: 3 });
  const pad = (s.k - 1) / 2, oh = Math.floor((s.hw + 2 * pad - s.k) / s.stride) + 1;
  const conv = (): Tensor => ops.conv2d(x, w, { stride: s.stride, padding: pad, bias: b, ...(s.norm ? { norm: { groups: s.norm, silu: true } } : {}) });
  const flops = 2 * s.n * s.cout * oh * oh * s.cin * s.k * s.k;
  const runs = Math.max(3, Math.min(200, Math.round(2e11 / flops)));
  const outs: Tensor[] = [];
  const sample = (): number => {
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) outs.push(conv());
    sync();
    const ms = (performance.now() - t0) / runs;
    for (const o of outs.splice(0)) o.dispose();
    return ms;
  };
  sample();  // warm-up (allocator, first launches)
  const samples = Array.from({ length: 5 }, sample).sort((p, q) => p - q);
  const yt = conv();
  const y = dir ? yt.toFloat32() : new Float32Array(0);
  const tag = s.name.replace(/[^a-z0-9]+/gi, '_');
  const files = dir
    ? { x: path.join(dir, `${tag}-x.f32`), w: path.join(dir, `${tag}-w.f32`), b: path.join(dir, `${tag}-b.f32`), y: path.join(dir, `${tag}-y.f32`) }
    : { x: '', w: '', b: '', y: '' };
  if (dir) {  // the same inputs for PyTorch, as f32 (exactly representable in f16)
    fs.writeFileSync(files.x, x.toFloat32());
    fs.writeFileSync(files.w, w.toFloat32());
    fs.writeFileSync(files.b, b.toFloat32());
  }
  for (const t of [x, w, b, yt]) t.dispose();
  const ms = samples[2]!;
  const tflops = flops / ms / 1e9;
  return { shape: s, row: { shape: s.name, ms, tflops, peakPct: (100 * tflops) / PEAK_TFLOPS_F16 }, runs, y, files };
}

/** Runs bench/torch_conv.py on the saved inputs and fills in the PyTorch columns. */
function compareWithTorch(measured: Measured[], dir: string): void {
  const spec = measured.map(({ shape: s, runs, files }) => ({ ...s, pad: (s.k - 1) / 2, runs, ...files }));
  const specFile = path.join(dir, 'spec.json');
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const script = path.join(__dirname, '..', '..', 'bench', 'torch_conv.py');
  const r = spawnSync('python3', [script, specFile], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    info(`PyTorch comparison failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    return;
  }
  const times = JSON.parse(r.stdout) as { ms: number }[];
  measured.forEach((m, i) => {
    const torchMs = times[i]!.ms;
    const buf = fs.readFileSync(m.files.y);
    const ref = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    Object.assign(m.row, { torchMs, pctOfTorch: (100 * torchMs) / m.row.ms, maxDiff: maxDiff(m.y, ref) });
  });
}

function main(): void {
  const cuda = devices().find((d) => d.name === 'cuda');
  if (!cuda?.available) {
    info(`cuda unavailable${cuda?.reason ? `: ${cuda.reason}` : ''}; nothing to benchmark`);
    if (json) process.stdout.write('[]\n');
    return;
  }
  const noTorch = torchAvailable();
  info(noTorch ? `PyTorch comparison skipped: ${noTorch}` : 'PyTorch found: comparing with torch conv2d (cuDNN, channels-last f16) on the same inputs');
  const dir = noTorch ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-bench-conv-'));
  try {
    const measured = shapes.map((s) => timeConv(s, dir));
    if (dir) compareWithTorch(measured, dir);
    const rows = measured.map((m) => m.row);
    if (json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    const gpu = spawnSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' });
    info(`device: ${gpu.status === 0 ? gpu.stdout.trim().split('\n')[0] : 'cuda (nvidia-smi unavailable)'}`);
    for (const r of rows) {
      const torchCols = r.torchMs === undefined ? '' :
        `  torch ${r.torchMs.toFixed(3)} ms  ${r.pctOfTorch!.toFixed(0)}% of torch  max diff ${r.maxDiff!.toExponential(1)}`;
      info(`${r.shape.padEnd(32)} ${r.ms.toFixed(3).padStart(8)} ms  ${r.tflops.toFixed(1).padStart(6)} TFLOP/s  ${r.peakPct.toFixed(1).padStart(5)}% of peak${torchCols}`);
    }
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
