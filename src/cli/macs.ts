/**
 * `npm run macs [-- --json] [--steps N] [--no-cfg] [--size 512]`: the MAC table of SD1.5 + ControlNet on the
 * meta device (modules convention, and 'all' with the attention products), per component and per block.
 */
import { parseArgs } from 'node:util';

import { perBlock, runTotals, sd15StepMacs } from '../profile/sd15-macs.js';

export function macsMain(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      steps: { type: 'string', default: '20' },
      size: { type: 'string', default: '512' },
      'no-cfg': { type: 'boolean', default: false },
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
  if (values.json) {
    console.log(JSON.stringify({ size, steps, cfg, modules, all, perBlockPerImageStep: blocks }, null, 2));
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
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = macsMain(process.argv.slice(2));
  } catch (e) {
    console.error(`hgc macs: ${(e as Error).message}`);
    process.exitCode = 2;
  }
}
