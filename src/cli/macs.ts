/**
 * `hgc macs [--json] [--steps N] [--no-cfg] [--size 512] [--policy SPEC]… [--plot timeline.svg]`: the MAC table of
 * SD1.5 + ControlNet on the meta device (modules convention, and 'all' with the attention products), per
 * component and per block, and per cache policy; `--plot` writes the step timeline of the policies as SVG.
 */
import * as fs from 'node:fs';

import { parsePolicySpec, policyNames } from '../cache/spec.js';
import { HgcError } from '../errors.js';
import type { MacCounter } from '../profile/macs.js';
import { perBlock, runTotals, sd15StepMacs } from '../profile/sd15-macs.js';
import { tracePolicy } from '../viz/policy-timeline.js';
import { type TimelineRow, stepTimelineSvg } from '../viz/timeline.js';
import { type OptionTable, numberOpt, parseCommand, stringOpt } from './args.js';
import { UsageError, exitCodeFor } from './exit-codes.js';

/** The options of `hgc macs`. */
export const MACS_OPTIONS: OptionTable = {
  json: { type: 'boolean', default: false },
  steps: { type: 'string', default: '20' },
  size: { type: 'string', default: '512' },
  'no-cfg': { type: 'boolean', default: false },
  policy: { type: 'string', multiple: true },
  plot: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

/** `hgc macs --help`. */
export const MACS_USAGE = `Usage: hgc macs [--policy SPEC]... [--steps N] [--size PX] [--no-cfg] [--json] [--plot FILE.svg]

MACs of SD1.5 + ControlNet (modules convention: convolutions, linear layers, norms), traced on the meta device
(no weights needed): per component, per block, and per cache policy.

      --policy SPEC   a cache policy to count (repeatable), e.g. hgc, deepCache:interval=3, tgate:gateStep=10
                      policies: ${policyNames.join(', ')}
      --steps N       denoising steps (default 20)
      --size PX       image size, a multiple of 64 (default 512)
      --no-cfg        without classifier-free guidance (batch 1)
      --json          print JSON
      --plot FILE     write the step timeline of the policies as SVG (default set when no --policy: uncached,
                      deepCache, tgate, fasterDiffusion, hgc)
`;

/** The policies plotted when none is given. */
export const DEFAULT_PLOT_POLICIES = ['uncached', 'deepCache', 'tgate', 'fasterDiffusion', 'hgc'] as const;

/** Runs `hgc macs`; returns the exit code. */
export function macsMain(argv: string[]): number {
  const args = parseCommand('macs', argv, MACS_OPTIONS);
  if (args.values.help) {
    process.stdout.write(MACS_USAGE);
    return 0;
  }
  const values = args.values as { json: boolean; 'no-cfg': boolean; policy?: string[] };
  const steps = numberOpt('macs', args, 'steps', 20, { integer: true, min: 1, max: 1000 });
  const size = numberOpt('macs', args, 'size', 512, { integer: true, min: 64 });
  if (size % 64 !== 0) throw new UsageError(`hgc macs: --size must be a multiple of 64, got ${size}`);
  const plot = stringOpt(args, 'plot');
  const cfg = !values['no-cfg'];
  const step = sd15StepMacs({ height: size, width: size });
  const modules = runTotals(step, steps, cfg, 'modules');
  const all = runTotals(step, steps, cfg, 'all');
  const blocks = {
    unet: Object.fromEntries(perBlock(step.unet)),
    controlnet: Object.fromEntries(perBlock(step.controlnet)),
  };
  const traceOpts = { steps, size, guidance: cfg ? 7.5 : 1 };
  const specs = values.policy ?? [];
  const traced = specs.map((spec) => {
    let policy;
    try {
      policy = spec === 'uncached' ? undefined : parsePolicySpec(spec);
    } catch (e) {
      throw new UsageError(`hgc macs: --policy ${JSON.stringify(spec)}: ${(e as Error).message}`);
    }
    return { spec, name: policy?.name ?? 'uncached', ...tracePolicy(policy, traceOpts) };
  });
  const policies = traced.filter((p) => p.spec !== 'uncached');
  const baselineTrace = policies.length || plot ? tracePolicy(undefined, traceOpts) : undefined;
  const baseline = baselineTrace?.counter;
  if (plot !== undefined) {
    const rows = specs.length > 0 ? traced : DEFAULT_PLOT_POLICIES.map((spec) => {
      const policy = spec === 'uncached' ? undefined : parsePolicySpec(spec);
      return { spec, name: policy?.name ?? 'uncached', ...(policy ? tracePolicy(policy, traceOpts) : baselineTrace!) };
    });
    writePlot(plot, rows.map((r): TimelineRow => ({
      label: r.spec, steps: r.steps,
      note: `${(r.counter.total() / 1e12).toFixed(2)} TMACs (${((100 * r.counter.total()) / baseline!.total()).toFixed(1)}%)`,
    })), `SD1.5 + ControlNet at ${size}², ${steps} steps, CFG ${cfg ? 'on' : 'off'}: what each step computes`);
  }
  if (values.json) {
    console.log(JSON.stringify({
      size, steps, cfg, modules, all, perBlockPerImageStep: blocks,
      policies: policies.map((p) => policyJson(p.spec, p.name, p.counter, baseline!)),
    }, null, 2));
    return 0;
  }
  const g = (x: number) => (x / 1e9).toFixed(3).padStart(10);
  const t = (x: number) => (x / 1e12).toFixed(3).padStart(8);
  console.log(`SD1.5 + ControlNet at ${size}×${size}, ${steps} steps, CFG ${cfg ? 'on (batch 2)' : 'off'}; traced on the meta device\n`);
  console.log('                               modules (GMACs)   all (GMACs)');
  console.log(`UNet, per image per step      ${g(modules.unetPerImageStep)}       ${g(all.unetPerImageStep)}`);
  console.log(`ControlNet, per image per step${g(modules.controlnetPerImageStep)}       ${g(all.controlnetPerImageStep)}`);
  console.log(`Whole run (TMACs)               ${t(modules.total)}         ${t(all.total)}\n`);
  console.log('Per block, per image per step (modules convention, GMACs):');
  for (const [name, v] of Object.entries(blocks.unet)) console.log(`  unet.${name.padEnd(28)}${g(v)}`);
  for (const [name, v] of Object.entries(blocks.controlnet)) console.log(`  controlnet.${name.padEnd(22)}${g(v)}`);
  for (const p of policies) printPolicy(p.name, p.counter, baseline!);
  return 0;
}

const KINDS: [string, RegExp][] = [['conv', /./], ['linear', /./], ['norm', /./], ['attention', /./], ['matmul', /./]];

function policyJson(spec: string, name: string, c: MacCounter, base: MacCounter) {
  return {
    spec, name, modules: c.total('modules'), all: c.total('all'), baselineModules: base.total('modules'),
    speedup: base.total('modules') / c.total('modules'),
    perStep: Object.fromEntries(c.groupBy((r) => String(r.tags.step ?? 'setup'))),
    perComponent: Object.fromEntries(c.groupBy((r) => (r.path.startsWith('controlnet') || /^controlnet_|cond_embedding/.test(r.path) ? 'controlnet' : 'unet'))),
    perModuleType: Object.fromEntries(KINDS.map(([k]) => [k, c.records.filter((r) => r.category === k).reduce((s, r) => s + r.macs, 0)])),
  };
}

function writePlot(file: string, rows: TimelineRow[], title: string): void {
  try {
    fs.writeFileSync(file, stepTimelineSvg(rows, { title }));
  } catch (e) {
    throw new HgcError('IO', `hgc macs: cannot write --plot ${file}: ${(e as Error).message}`);
  }
  process.stderr.write(`wrote ${file}\n`);
}

function printPolicy(name: string, c: MacCounter, base: MacCounter): void {
  const t = (x: number) => (x / 1e12).toFixed(3);
  console.log(`\nPolicy ${name}: ${t(c.total())} TMACs (modules; baseline ${t(base.total())}, ${(base.total() / c.total()).toFixed(2)}× fewer), ${t(c.total('all'))} counting attention products`);
  const steps = [...c.groupBy((r) => String(r.tags.step ?? 'setup'))];
  console.log('  per step (GMACs): ' + steps.map(([k, v]) => `${k}:${(v / 1e9).toFixed(1)}`).join(' '));
  const types = KINDS.map(([k]) => `${k} ${(c.records.filter((r) => r.category === k).reduce((s, r) => s + r.macs, 0) / 1e12).toFixed(3)}`);
  console.log('  per module type (TMACs): ' + types.join(', '));
}

// Kept runnable on its own (`node dist/src/cli/macs.js`, `npm run macs`), as before the hgc command existed.
if (require.main === module) {
  try {
    process.exitCode = macsMain(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message.startsWith('hgc ') ? (e as Error).message : `hgc macs: ${(e as Error).message}`);
    process.exitCode = exitCodeFor(e);
  }
}
