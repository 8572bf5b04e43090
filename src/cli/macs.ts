/**
 * `npm run macs [-- --json] [--steps N] [--no-cfg] [--size 512]`: the MAC table of SD1.5 + ControlNet on the
 * meta device (modules convention, and 'all' with the attention products), per component and per block.
 */
import { parseArgs } from 'node:util';

import { parsePolicySpec } from '../cache/spec.js';
import type { MacCounter } from '../profile/macs.js';
import { runMacs } from '../profile/policy-macs.js';
import { perBlock, runTotals, sd15StepMacs } from '../profile/sd15-macs.js';

export function macsMain(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      steps: { type: 'string', default: '20' },
      size: { type: 'string', default: '512' },
      'no-cfg': { type: 'boolean', default: false },
      policy: { type: 'string', multiple: true },
    },
  });
  const steps = Number(values.steps), size = Number(values.size);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${values.steps}`);
  if (!Number.isInteger(size) || size < 64 || size % 64 !== 0) throw new Error(`--size must be a multiple of 64, got ${values.size}`);
  const cfg = !values['no-cfg'];
  const step = sd15StepMacs({ height: size, width: size });
  const modules = runTotals(step, steps, cfg, 'modules');
  const all = runTotals(step, steps, cfg, 'all');
  const blocks = {
    unet: Object.fromEntries(perBlock(step.unet)),
    controlnet: Object.fromEntries(perBlock(step.controlnet)),
  };
  const policies = (values.policy ?? []).map((spec) => {
    const policy = parsePolicySpec(spec);
    const counter = runMacs(policy, { steps, size, guidance: cfg ? 7.5 : 1 });
    return { spec, name: policy.name, counter };
  });
  const baseline = policies.length ? runMacs(undefined, { steps, size, guidance: cfg ? 7.5 : 1 }) : undefined;
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

function printPolicy(name: string, c: MacCounter, base: MacCounter): void {
  const t = (x: number) => (x / 1e12).toFixed(3);
  console.log(`\nPolicy ${name}: ${t(c.total())} TMACs (modules; baseline ${t(base.total())}, ${(base.total() / c.total()).toFixed(2)}× fewer), ${t(c.total('all'))} counting attention products`);
  const steps = [...c.groupBy((r) => String(r.tags.step ?? 'setup'))];
  console.log('  per step (GMACs): ' + steps.map(([k, v]) => `${k}:${(v / 1e9).toFixed(1)}`).join(' '));
  const types = KINDS.map(([k]) => `${k} ${(c.records.filter((r) => r.category === k).reduce((s, r) => s + r.macs, 0) / 1e12).toFixed(3)}`);
  console.log('  per module type (TMACs): ' + types.join(', '));
}

if (require.main === module) {
  try {
    process.exitCode = macsMain(process.argv.slice(2));
  } catch (e) {
    console.error(`hgc macs: ${(e as Error).message}`);
    process.exitCode = 2;
  }
}
