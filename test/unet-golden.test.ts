// UNet2DConditionModel against diffusers' golden outputs (every hooked intermediate, then the output).
import t from 'tap';

import { SafetensorsFile, type Tensor, loadSafetensors, models } from '../dist/src/index.js';
import { closeness, goldenPath, readJson } from './helpers/golden';

function runCase(t: Tap.Test, folder: string, goldenFile: string) {
  const unet = new models.UNet2DConditionModel(readJson(goldenPath(folder, 'config.json')));
  const weights = loadSafetensors(goldenPath(folder, 'diffusion_pytorch_model.safetensors'));
  unet.loadStateDict(weights);
  for (const w of weights.values()) w.dispose();
  const golden = SafetensorsFile.open(goldenPath(folder, goldenFile));
  const sample = golden.load('input.sample'), context = golden.load('input.encoder_hidden_states');
  const timestep = golden.load('input.timestep').toFloat32()[0]!;
  const seen: string[] = [];
  const out = unet.forward(sample, timestep, context, {
    hook: (name: string, y: Tensor) => {
      const key = `hook.${name}`;
      if (!golden.has(key)) return;
      seen.push(name);
      const ref = golden.load(key);
      const c = closeness(y.toFloat32(), ref.toFloat32());
      if (!(c.ratio <= 1)) t.fail(`${folder} ${goldenFile} ${name}: max abs diff ${c.maxAbs} (ratio ${c.ratio})`);
      ref.dispose();
    },
  });
  const ref = golden.load('output.sample');
  const c = closeness(out.toFloat32(), ref.toFloat32());
  t.ok(c.ratio <= 1, `${folder} ${goldenFile} output: max abs diff ${c.maxAbs.toExponential(2)} (checked ${seen.length} intermediates)`);
  const expected = golden.keys().filter((k) => k.startsWith('hook.')).length;
  t.equal(seen.length, expected, 'every hooked intermediate was compared');
  for (const x of [sample, context, out, ref]) x.dispose();
  golden.close();
  unet.dispose();
}

t.test('unet-tiny at t=500 (fine hooks) and t=10', async (t) => {
  runCase(t, 'unet-tiny', 'golden_t500.safetensors');
  runCase(t, 'unet-tiny', 'golden_t10.safetensors');
});

t.test('unet-sd15-shaped-small at t=500', async (t) => {
  runCase(t, 'unet-sd15-shaped-small', 'golden_t500.safetensors');
});
