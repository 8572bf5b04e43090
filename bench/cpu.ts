/**
 * CPU benchmark: hgc against ONNX Runtime (CPU EP, same thread count) on Stable Diffusion-sized kernels.
 * `npm run bench:cpu` prints a table; `npm run bench:cpu -- --json` prints only a JSON array of rows on stdout
 * (machine facts and progress then go to stderr). `--filter REGEX` runs just the cases whose name matches, as
 * `hgc bench --filter` does (the GEMM probe always runs: the peak check needs it).
 */
import { numThreads } from '../src/index.js';
import { cases, gemmProbe } from './cases.js';
import { copyBandwidth, cpuInfo, measureClockGHz, theoreticalPeak } from './machine.js';
import { type Limits, type Ort, type Row, runCase } from './runner.js';

const json = process.argv.includes('--json');
const filterAt = process.argv.indexOf('--filter');
const filter = new RegExp(filterAt >= 0 ? process.argv[filterAt + 1] ?? '' : '');
const info = (line: string): void => void (json ? process.stderr : process.stdout).write(`${line}\n`);

function loadOrt(): Ort | string {
  try {
    const ort = require('onnxruntime-node') as Ort;
    ort.env.logLevel = 'error';
    return ort;
  } catch (e) {
    return `onnxruntime-node unavailable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

const fmt = (v: number | null | undefined, digits: number): string => (v === null || v === undefined ? '-' : v.toFixed(digits));

function tableRow(r: Row): string {
  const rate = r.gflops !== undefined ? `${fmt(r.gflops, 1)} GFLOP/s` : `${fmt(r.gbps, 1)} GB/s`;
  const pct = `${fmt(r.peakPct, 1)}%${r.gbps !== undefined ? ' (copy BW)' : ''}`;
  const ort = r.ortError !== undefined
    ? [`ORT failed: ${r.ortError}`, '-', '-']
    : [fmt(r.ortMs, 2), `${fmt(r.ortRatio, 2)}×`, `${(r.maxDiff ?? NaN).toExponential(1)}${(r.maxDiff ?? NaN) < 1e-3 ? '' : ' MISMATCH'}`];
  return `| ${r.name} | ${fmt(r.ms, 2)} | ${rate} | ${pct} | ${ort.join(' | ')} |`;
}

async function main(): Promise<void> {
  const threads = numThreads();
  const cpu = cpuInfo();
  const peak = theoreticalPeak(cpu, threads, measureClockGHz());
  const ort = loadOrt();
  info(`CPU: ${cpu.model} (${cpu.vendor}), ${cpu.cores} cores / ${cpu.logical} logical, ` +
    `avx2=${cpu.flags.has('avx2')} avx512f=${cpu.flags.has('avx512f')}`);
  info(`threads: ${threads} (hgc; ORT intraOpNumThreads=${threads}, interOpNumThreads=1)`);
  if (typeof ort !== 'string') info(`onnxruntime-node ${require('onnxruntime-node/package.json').version as string}`);
  info(`theoretical f32 FMA peak: ${peak.gflops.toFixed(1)} GFLOP/s = ${peak.assumptions}`);
  const copyGbps = copyBandwidth();
  info(`copy bandwidth: ${copyGbps.toFixed(1)} GB/s (single-threaded TypedArray.set of 256 MB, 2 × bytes / time)`);
  const limits: Limits = { threads, peakGflops: peak.gflops, copyGbps };

  const rows: Row[] = [];
  for (const c of [gemmProbe, ...cases.filter((k) => filter.test(k.name))]) {
    process.stderr.write(`running ${c.name}...\n`);
    rows.push(await runCase(c, ort, limits));
  }
  const probe = rows[0]!;
  const ortProbe = probe.ortMs !== null ? (2 * 2048 ** 3) / probe.ortMs / 1e6 : 0;
  const best = Math.max(probe.gflops ?? 0, ortProbe);
  info(`best observed GEMM: ${best.toFixed(1)} GFLOP/s (hgc ${fmt(probe.gflops, 1)}, ORT ${fmt(ortProbe || null, 1)}) = ` +
    `${((100 * best) / peak.gflops).toFixed(1)}% of theoretical peak`);

  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  info('');
  info('| case | hgc ms | hgc rate | % of peak | ORT ms | ORT/hgc | max diff |');
  info('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) info(tableRow(r));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
