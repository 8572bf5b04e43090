// The plumbing of `npm run bench:gpu` (dist/bench/gpu.js) on the simulator with tiny shapes: the options, the
// rows of --json and the bytes each pointwise op is counted as moving (its inputs read once, its output written
// once). Its times measure nothing.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';

import { devices } from '../dist/src/index.js';

const script = path.join(__dirname, '..', 'dist', 'bench', 'gpu.js');
const bench = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 120_000 });
const sim = devices().find((d) => d.name === 'cuda-sim')?.available;

t.test('bad options are usage errors', async (t) => {
  for (const [args, msg] of [
    [['--device', 'cuda-sim'], /--device cuda-sim needs --small/],
    [['--device', 'cpu', '--small'], /--device must be cuda or cuda-sim, got 'cpu'/],
    [['--device', 'cuda-sim', '--small', '--section', 'nope'], /unknown --section nope \(sections: gemm, pointwise, attention, conv/],
  ] as const) {
    const r = bench(...args);
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, msg);
  }
});

t.test('--device cuda-sim --small --json: one well-formed row per op and dtype', { skip: sim ? false : 'cuda-sim unavailable' }, async (t) => {
  const r = bench('--device', 'cuda-sim', '--small', '--json', '--section', 'pointwise');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /plumbing check/);
  const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
  t.equal(rows.length, 29);
  for (const row of rows) {
    t.equal(row.section, 'pointwise');
    t.ok(['f16', 'f32'].includes(row.dtype as string), `${row.op as string} dtype`);
    for (const k of ['ms', 'gbps', 'peakPct', 'bytes', 'runs']) t.ok(Number.isFinite(row[k]) && (row[k] as number) > 0, `${row.op as string} ${k}`);
    t.ok(Math.abs((row.gbps as number) - (row.bytes as number) / (row.ms as number) / 1e6) < 1e-9 * (row.gbps as number));
    t.ok(Math.abs((row.peakPct as number) - (100 * (row.gbps as number)) / 3350) < 1e-9);
  }
  const find = (op: RegExp, dtype: string) => rows.find((x) => op.test(x.op as string) && x.dtype === dtype)!;
  // 2×8×3×5 + 1×8×1×1 read, 2×8×3×5 written
  t.equal(find(/bias over channels/, 'f32').bytes, (240 + 8 + 240) * 4);
  t.equal(find(/bias over channels/, 'f16').bytes, (240 + 8 + 240) * 2);
  t.equal(find(/GEGLU/, 'f16').bytes, (7 * 66 + 7 * 33) * 2);
  t.equal(find(/upsample/, 'f32').bytes, 120 * 5 * 4);
  t.equal(find(/cast/, 'f32').bytes, 210 * 4 + 210 * 2);
  t.equal(find(/relative L1/, 'f32').bytes, 2 * 210 * 4);  // the result is a number
  t.equal(find(/group_norm/, 'f16').shapes, '2×64×4×4, 64, 64');
});

t.test('--device cuda-sim --small --json: the attention section', { skip: sim ? false : 'cuda-sim unavailable' }, async (t) => {
  const r = bench('--device', 'cuda-sim', '--small', '--json', '--section', 'attention');
  t.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
  t.same(rows.map((x) => x.case), ['self 64² latents', 'self 32²', 'self 16²', 'cross 64² × 77 text tokens']);
  for (const row of rows) {
    t.equal(row.section, 'attention');
    for (const k of ['ms', 'tflops', 'peakPct', 'runs']) t.ok(Number.isFinite(row[k]) && (row[k] as number) > 0, `${row.case as string} ${k}`);
    const [, n, m, d] = /2×8 × (\d+)×(\d+) × (\d+)/.exec(row.shape as string)!.map(Number);
    t.ok(Math.abs((row.tflops as number) - (4 * 2 * 8 * n! * m! * d!) / (row.ms as number) / 1e9) < 1e-9 * (row.tflops as number), 'flops counted as 4·B·H·N·M·d');
  }
});

t.test('--device cuda-sim --small --json: the conv section', { skip: sim ? false : 'cuda-sim unavailable' }, async (t) => {
  const r = bench('--device', 'cuda-sim', '--small', '--json', '--section', 'conv');
  t.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
  t.equal(rows.length, 8);
  for (const row of rows) {
    t.equal(row.section, 'conv');
    for (const k of ['ms', 'tflops', 'peakPct', 'runs']) t.ok(Number.isFinite(row[k]) && (row[k] as number) > 0, `${row.shape as string} ${k}`);
    const [, n, cin, hw, cout, k, stride] = /(\d+)×(\d+)×(\d+)×\d+ → (\d+), (\d+)×\d+ \/ (\d+)/.exec(row.dims as string)!.map(Number);
    const oh = Math.floor((hw! + (k! - 1) - k!) / stride!) + 1;
    t.ok(Math.abs((row.tflops as number) - (2 * n! * cout! * oh * oh * cin! * k! * k!) / (row.ms as number) / 1e9) < 1e-9 * (row.tflops as number), 'flops counted as 2·N·Cout·OH·OW·Cin·k²');
  }
});

t.test('--device cuda-sim --small --json: the step section (eager and graphed)', { skip: sim ? false : 'cuda-sim unavailable' }, async (t) => {
  const r = bench('--device', 'cuda-sim', '--small', '--json', '--section', 'step');
  t.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
  t.same(rows.map((x) => x.mode), ['eager', 'graphed']);
  for (const row of rows) {
    t.equal(row.section, 'step');
    t.equal(row.model, 'UNet + ControlNet, 2×4×8×8, f16');
    for (const k of ['ms', 'stepsPerS', 'targetPct', 'runs']) t.ok(Number.isFinite(row[k]) && (row[k] as number) > 0, `${row.mode as string} ${k}`);
    t.ok(Math.abs((row.stepsPerS as number) - 1000 / (row.ms as number)) < 1e-9 * (row.stepsPerS as number));
    t.ok(Math.abs((row.targetPct as number) - (100 * (row.stepsPerS as number)) / 36) < 1e-9 * (row.targetPct as number));
  }
  const graphed = rows[1]!;
  t.equal(graphed.graphs, 1, 'the step was captured into one graph');
  t.ok((graphed.poolBytes as number) > 0);
  t.equal(graphed.sameAsEager, true, 'the replayed step gives the eager bits');
});
