/**
 * `hgc bench [--filter RE] [--ort] [--step] [--json]`: the CPU kernel benchmark (the SD1.5-sized cases of
 * bench/cases.ts, timed by bench/runner.ts, optionally against ONNX Runtime when onnxruntime-node is installed)
 * and one full denoising step (ControlNet + UNet, batch 2) of the bundled toy model.
 */
import * as path from 'node:path';

import { cases as benchCases, gemmProbe } from '../../bench/cases.js';
import { copyBandwidth, cpuInfo, measureClockGHz, theoreticalPeak } from '../../bench/machine.js';
import { type Ort, type Row, runCase } from '../../bench/runner.js';
import { medianMs, sampler } from '../../bench/timing.js';
import { randn } from '../creation.js';
import { loadControlNet, loadUNet } from '../io/model-folder.js';
import { countMacs } from '../profile/macs.js';
import { numThreads } from '../runtime.js';
import { tidy } from '../scope.js';
import { type OptionTable, parseCommand, stringOpt } from './args.js';
import { UsageError } from './exit-codes.js';
import { locateModels } from './locate-models.js';

/** The options of `hgc bench`. */
export const BENCH_OPTIONS: OptionTable = {
  filter: { type: 'string' },
  list: { type: 'boolean' },
  ort: { type: 'boolean' },
  step: { type: 'boolean' },
  'no-kernels': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** `hgc bench --help`. */
export const BENCH_USAGE = `Usage: hgc bench [--filter REGEX] [--list] [--ort] [--step] [--no-kernels] [--json]

Times the SD1.5-sized CPU kernels (median of repeated runs) and reports GFLOP/s (or GB/s) and the share of the
machine's theoretical peak.

      --filter REGEX   only the cases whose name matches
      --list           list the cases and exit
      --ort            also time ONNX Runtime on the same work and compare outputs (needs onnxruntime-node)
      --step           also time one denoising step of the bundled toy model (ControlNet + UNet, batch 2)
      --no-kernels     skip the kernel cases (with --step: the step only)
      --json           print JSON rows on stdout
`;

/** One timed toy-model step. */
export interface StepRow {
  name: string;
  ms: number;
  gmacs: number;
  gflops: number;
}

function loadOrt(): Ort | string {
  try {
    const ort = require('onnxruntime-node') as Ort;
    ort.env.logLevel = 'error';
    return ort;
  } catch (e) {
    return `onnxruntime-node unavailable: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`;
  }
}

/** Times one classifier-free-guided denoising step of the toy model (ControlNet, then the UNet with its residuals). */
export async function benchToyStep(): Promise<StepRow> {
  const where = locateModels();
  const unet = loadUNet(path.join(where.toy, 'unet'));
  const cn = loadControlNet(path.join(where.toy, 'controlnet'));
  const x = randn([2, unet.config.inChannels, 16, 16], { seed: 1 });
  const ctx = randn([2, 77, unet.config.crossAttentionDim], { seed: 2 });
  // Random data: the work (and so the time) does not depend on the values.
  const cond = randn([2, 3, 16 * cn.conditioningFactor, 16 * cn.conditioningFactor], { seed: 3 });
  const step = () => tidy(() => {
    const r = cn.forward(x, 500, ctx, cond);
    return unet.forward(x, 500, ctx, { downResiduals: r.down, midResidual: r.mid });
  });
  try {
    const { result, counter } = countMacs(step);
    result.dispose();
    const ms = await medianMs(sampler(step, (t) => t.dispose()));
    const macs = counter.total('all');
    return { name: 'toy model step (ControlNet + UNet, batch 2, 16×16 latents)', ms, gmacs: macs / 1e9, gflops: (2 * macs) / ms / 1e6 };
  } finally {
    for (const t of [x, ctx, cond]) t.dispose();
    unet.dispose();
    cn.dispose();
  }
}

/** Runs `hgc bench`; returns the exit code. */
export async function benchMain(argv: readonly string[]): Promise<number> {
  const args = parseCommand('bench', argv, BENCH_OPTIONS);
  if (args.values.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const all = [gemmProbe, ...benchCases];
  if (args.values.list) {
    for (const c of all) process.stdout.write(`${c.name}\n`);
    return 0;
  }
  const filter = stringOpt(args, 'filter');
  let re: RegExp | undefined;
  if (filter !== undefined) {
    try {
      re = new RegExp(filter, 'i');
    } catch (e) {
      throw new UsageError(`hgc bench: --filter ${JSON.stringify(filter)} is not a regular expression: ${(e as Error).message}`);
    }
  }
  const selected = args.values['no-kernels'] ? [] : all.filter((c) => re === undefined || re.test(c.name));
  if (selected.length === 0 && !args.values.step) {
    throw new UsageError(`hgc bench: no case matches --filter ${JSON.stringify(filter)} (see hgc bench --list)`);
  }
  const json = args.values.json === true;
  const info = (line: string) => void (json ? process.stderr : process.stdout).write(`${line}\n`);
  const threads = numThreads();
  const cpu = cpuInfo();
  const rows: Row[] = [];
  if (selected.length > 0) {
    const peak = theoreticalPeak(cpu, threads, measureClockGHz());
    const ort = args.values.ort ? loadOrt() : 'not requested (--ort)';
    info(`CPU: ${cpu.model}, ${threads} threads; theoretical f32 peak ${peak.gflops.toFixed(1)} GFLOP/s (${peak.assumptions})`);
    const limits = { threads, peakGflops: peak.gflops, copyGbps: copyBandwidth() };
    for (const c of selected) {
      process.stderr.write(`running ${c.name} ...\n`);
      rows.push(await runCase(c, ort, limits));
    }
  }
  const step = args.values.step ? await benchToyStep() : undefined;
  if (json) {
    process.stdout.write(`${JSON.stringify({ threads, kernels: rows, step }, null, 2)}\n`);
    return 0;
  }
  if (rows.length > 0) {
    info('');
    info('| case | hgc ms | rate | % of peak | ORT ms | ORT/hgc |');
    info('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const rate = r.gflops !== undefined ? `${r.gflops.toFixed(1)} GFLOP/s` : `${r.gbps!.toFixed(1)} GB/s`;
      const ort = r.ortMs === null ? ['-', '-'] : [r.ortMs.toFixed(2), `${r.ortRatio!.toFixed(2)}×`];
      info(`| ${r.name} | ${r.ms.toFixed(2)} | ${rate} | ${r.peakPct.toFixed(1)}% | ${ort.join(' | ')} |`);
    }
  }
  if (step) info(`\n${step.name}: ${step.ms.toFixed(2)} ms, ${step.gmacs.toFixed(3)} GMACs (all), ${step.gflops.toFixed(1)} GFLOP/s`);
  return 0;
}
