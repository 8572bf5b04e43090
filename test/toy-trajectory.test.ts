// The trained toy SD1.5-architecture UNet + ControlNet: its golden 20-step UniPC trajectories with CFG 7.5.
import * as path from 'node:path';

import t from 'tap';

import { SafetensorsFile, type Tensor, denoise, loadSafetensors, models } from '../dist/src/index.js';
import { FIXTURES, closeness, readJson } from './helpers/golden';

const toy = (...p: string[]) => path.join(FIXTURES, 'toy-controlnet', ...p);

function load<M extends { loadStateDict(m: Map<string, Tensor>): unknown }>(model: M, file: string): M {
  const w = loadSafetensors(file);
  model.loadStateDict(w);
  for (const x of w.values()) x.dispose();
  return model;
}

t.test('toy ControlNet golden trajectories (cases 0 and 1)', async (t) => {
  const unet = load(new models.UNet2DConditionModel(readJson(toy('unet', 'config.json'))), toy('unet', 'diffusion_pytorch_model.safetensors'));
  const cn = load(new models.ControlNetModel(readJson(toy('controlnet', 'config.json'))), toy('controlnet', 'diffusion_pytorch_model.safetensors'));
  for (const c of ['case_000', 'case_001']) {
    const g = SafetensorsFile.open(toy('golden', `${c}.safetensors`));
    const latents = g.load('latents').toFloat32();
    const per = 4 * 16 * 16;
    let worst = 0;
    const out = denoise({
      unet, controls: [{ model: cn, image: g.load('control') }], cond: g.load('cond_emb'), uncond: g.load('uncond_emb'),
      latents: g.load('noise'), steps: 20, guidance: 7.5, scheduler: 'unipc', schedulerConfig: { finalSigmasType: 'zero' },
      onStep: ({ step, latents: x }) => {
        const ref = latents.subarray((step + 1) * per, (step + 2) * per);
        worst = Math.max(worst, closeness(x.toFloat32(), ref, 1e-3, 1e-3).ratio);
      },
    });
    const final = closeness(out.toFloat32(), latents.subarray(20 * per), 1e-3, 1e-3);
    t.ok(worst <= 1 && final.ratio <= 1, `${c}: every step within 1e-3 + 1e-3·|x| (worst ratio ${worst.toFixed(3)}, final max abs diff ${final.maxAbs.toExponential(2)})`);
    out.dispose();
    g.close();
  }
});
