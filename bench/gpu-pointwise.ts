/**
 * The memory-bound section of `npm run bench:gpu`: the norms, element-wise, layout, reduction and cast ops of
 * the cuda backend at SD1.5's sizes (batch 2 at 512², i.e. 64² latents), in f16 and f32. Each op is counted as
 * its inputs read once plus its output written once (the op's contract, not what the kernel happens to read) and
 * reported as GB/s and % of the H100 SXM's 3.35 TB/s HBM bandwidth (issue target: ≥ 70%). Where PyTorch with
 * CUDA is present, bench/torch_ops.py runs the same op (F.group_norm + F.silu, F.layer_norm, ...) on the same
 * data, and the row adds its time, hgc's speed as % of it and the normalised max difference of the results.
 *
 * Timing as in the GEMM section: `runs` back-to-back calls (each allocates its output through the caching
 * allocator and disposes it, as part of the op), then a synchronising 4-byte read-back, divided by `runs`;
 * the median of 5 such samples after one warm-up sample. The reductions return a number, so each of their calls
 * already waits for its result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { dtypeSize, ops, randn, tensor, type Tensor } from '../src/index.js';
import { addTorchColumns, type GpuContext, type GpuSection, H100_HBM_GBPS, runTorchScript, type TorchColumns, torchCells } from './gpu-section.js';

type DType = 'f16' | 'f32';

interface OpCase {
  /** bench/torch_ops.py's name for the op. */
  op: string;
  label: string;
  /** Shapes of the random inputs (Philox normals, seeds 1, 2, ...). */
  inputs: number[][];
  /** Shapes used with --small. */
  small: number[][];
  /** Dtypes to run in (the inputs' dtype); default f16 and f32. */
  dtypes?: DType[];
  /** Passed to bench/torch_ops.py. */
  params?: Record<string, number>;
  run(xs: Tensor[]): Tensor | number;
}

const GROUPS = 32;
const groupNorm = (shape: number[], small: number[]): OpCase => ({
  op: 'group_norm_silu', label: `group_norm+SiLU (${GROUPS} groups, affine)`,
  inputs: [shape, [shape[1]!], [shape[1]!]], small: [small, [small[1]!], [small[1]!]], params: { groups: GROUPS },
  run: ([x, w, b]) => ops.groupNorm(x!, GROUPS, { weight: w, bias: b, silu: true }),
});

// Batch 2 (classifier-free guidance) at 512×512: 64² latents with 320 channels at level 0, 32² × 640, 16² × 1280.
const cases: OpCase[] = [
  groupNorm([2, 320, 64, 64], [2, 64, 4, 4]),
  groupNorm([2, 640, 32, 32], [2, 64, 2, 3]),
  groupNorm([2, 1280, 16, 16], [1, 96, 3, 3]),
  {
    op: 'layer_norm', label: 'layer_norm (affine)', inputs: [[8192, 320], [320], [320]], small: [[9, 40], [40], [40]],
    run: ([x, w, b]) => ops.layerNorm(x!, { weight: w, bias: b }),
  },
  { op: 'softmax', label: 'softmax over the last dim (attention scores)', inputs: [[8192, 4096]], small: [[5, 130]], run: ([x]) => ops.softmax(x!) },
  { op: 'softmax', label: 'softmax over the last dim (cross-attention, 77 keys)', inputs: [[65536, 77]], small: [[9, 77]], run: ([x]) => ops.softmax(x!) },
  {
    op: 'add', label: 'add: bias over channels', inputs: [[2, 320, 64, 64], [1, 320, 1, 1]],
    small: [[2, 8, 3, 5], [1, 8, 1, 1]], run: ([a, b]) => ops.add(a!, b!),
  },
  {
    op: 'add', label: 'add: residual', inputs: [[2, 320, 64, 64], [2, 320, 64, 64]],
    small: [[2, 8, 3, 5], [2, 8, 3, 5]], run: ([a, b]) => ops.add(a!, b!),
  },
  { op: 'gelu', label: 'GELU (erf)', inputs: [[8192, 1280]], small: [[7, 33]], run: ([x]) => ops.gelu(x!) },
  { op: 'geglu', label: 'GEGLU (last dim halves)', inputs: [[8192, 2560]], small: [[7, 66]], run: ([x]) => ops.geglu(x!) },
  {
    op: 'upsample2x', label: 'nearest upsample 2×', inputs: [[2, 1280, 16, 16]], small: [[2, 5, 3, 4]],
    run: ([x]) => ops.upsampleNearest2x(x!),
  },
  {
    op: 'upsample2x', label: 'nearest upsample 2×', inputs: [[2, 640, 32, 32]], small: [[1, 6, 4, 3]],
    run: ([x]) => ops.upsampleNearest2x(x!),
  },
  {
    op: 'nchw_to_tokens', label: 'NCHW → tokens', inputs: [[2, 320, 64, 64]], small: [[2, 7, 3, 5]],
    run: ([x]) => ops.nchwToTokens(x!),
  },
  {
    op: 'relative_l1', label: 'relative L1 (→ number)', inputs: [[2, 320, 64, 64], [2, 320, 64, 64]],
    small: [[2, 7, 3, 5], [2, 7, 3, 5]], run: ([a, b]) => ops.relativeL1(a!, b!),
  },
  {
    op: 'cast_f16', label: 'cast f32 → f16', inputs: [[2, 320, 64, 64]], small: [[2, 7, 3, 5]], dtypes: ['f32'],
    run: ([x]) => x!.cast('f16'),
  },
];

export interface PointwiseRow extends TorchColumns {
  section: 'pointwise';
  op: string;
  dtype: DType;
  /** Input shapes, e.g. "2×320×64×64, 320, 320". */
  shapes: string;
  /** Inputs read once + output written once. */
  bytes: number;
  runs: number;
  ms: number;
  gbps: number;
  /** % of 3.35 TB/s. */
  peakPct: number;
}

interface Measured {
  c: OpCase;
  row: PointwiseRow;
  y: Float32Array;
  files: { inputs: string[]; y: string };
  shapes: number[][];
}

function timeOp(c: OpCase, dtype: DType, index: number, ctx: GpuContext): Measured {
  const { device, small, dir } = ctx;
  const shapes = small ? c.small : c.inputs;
  const xs = shapes.map((s, i) => randn(s, { device, dtype, seed: i + 1 }));
  const syncer = tensor([0], [1], { device });
  try {
    const first = c.run(xs);
    const outBytes = typeof first === 'number' ? 0 : first.size * dtypeSize(first.dtype);
    const y = typeof first === 'number' ? new Float32Array([first]) : dir ? first.toFloat32() : new Float32Array(0);
    if (typeof first !== 'number') first.dispose();
    const bytes = xs.reduce((a, x) => a + x.size * dtypeSize(x.dtype), 0) + outBytes;
    const runs = small ? 2 : Math.max(5, Math.min(1000, Math.round(2e10 / bytes)));
    const once = (): void => {
      const out = c.run(xs);
      if (typeof out !== 'number') out.dispose();
    };
    const sample = (): number => {
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) once();
      syncer.toFloat32();  // a device → host copy waits for every launch before it
      return (performance.now() - t0) / runs;
    };
    sample();  // warm-up (allocator, first launch)
    const samples = Array.from({ length: small ? 3 : 5 }, sample).sort((a, b) => a - b);
    const ms = samples[samples.length >> 1]!;
    const gbps = bytes / ms / 1e6;
    const tag = `${index}-${c.op}-${dtype}`;
    const files = dir
      ? { inputs: xs.map((_, i) => path.join(dir, `${tag}-in${i}.f32`)), y: path.join(dir, `${tag}-y.f32`) }
      : { inputs: [], y: '' };
    files.inputs.forEach((f, i) => fs.writeFileSync(f, xs[i]!.toFloat32()));  // exact in dtype
    const row: PointwiseRow = {
      section: 'pointwise', op: c.label, dtype, shapes: shapes.map((s) => s.join('×')).join(', '), bytes, runs, ms, gbps,
      peakPct: (100 * gbps) / H100_HBM_GBPS,
    };
    return { c, row, y, files, shapes };
  } finally {
    for (const t of [...xs, syncer]) t.dispose();
  }
}

/** Runs bench/torch_ops.py on the saved inputs and fills in the PyTorch columns. */
function compareWithTorch(measured: Measured[], ctx: GpuContext): void {
  const spec = measured.map(({ c, row, files, shapes }) => ({
    op: c.op, dtype: row.dtype, params: c.params ?? {}, runs: row.runs, samples: ctx.small ? 3 : 5,
    inputs: files.inputs.map((file, i) => ({ file, shape: shapes[i] })), y: files.y,
  }));
  const times = runTorchScript<{ ms: number }[]>(ctx, 'torch_ops.py', spec);
  if (!times) return;
  measured.forEach((m, i) => addTorchColumns(m.row, times[i]!.ms, m.y, m.files.y));
}

function printTable(rows: PointwiseRow[], info: (line: string) => void): void {
  info('| op | input shapes | dtype | MB moved | ms | GB/s | % of H100 HBM | torch ms | % of torch | max diff |');
  info('|---|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    info(`| ${r.op} | ${r.shapes} | ${r.dtype} | ${(r.bytes / 1e6).toPrecision(3)} | ${r.ms.toFixed(4)} | ${r.gbps.toFixed(0)} | ${r.peakPct.toFixed(1)}% | ` +
      torchCells(r, 4));
  }
  info('');
}

export const pointwiseSection: GpuSection = {
  name: 'pointwise',
  run(ctx) {
    ctx.info(`pointwise: bytes = inputs read once + output written once (the op's contract); % of the H100 SXM's ` +
      `${H100_HBM_GBPS / 1000} TB/s HBM3 (target ≥ 70%)${ctx.dir ? '; PyTorch runs the same ops on the same data' : ''}`);
    const measured: Measured[] = [];
    cases.forEach((c, i) => {
      for (const dtype of c.dtypes ?? (['f16', 'f32'] as const)) measured.push(timeOp(c, dtype, i, ctx));
    });
    if (ctx.dir) compareWithTorch(measured, ctx);
    const rows = measured.map((m) => m.row);
    if (!ctx.json) printTable(rows, ctx.info);
    return rows;
  },
};
