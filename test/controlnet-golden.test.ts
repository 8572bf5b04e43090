// ControlNetModel against diffusers' goldens (residuals at scale 1 and 0.5), then the UNet with those residuals.
import t from 'tap';

import { SafetensorsFile, type Tensor, loadSafetensors, models, zeros } from '../dist/src/index.js';
import { closeness, goldenPath, readJson } from './helpers/golden';

function load<M extends { loadStateDict(m: Map<string, Tensor>): unknown }>(model: M, file: string): M {
  const w = loadSafetensors(file);
  model.loadStateDict(w);
  for (const x of w.values()) x.dispose();
  return model;
}

t.test('controlnet-tiny residuals and the UNet fed with them', async (t) => {
  const cn = load(new models.ControlNetModel(readJson(goldenPath('controlnet-tiny', 'config.json'))), goldenPath('controlnet-tiny', 'diffusion_pytorch_model.safetensors'));
  const unet = load(new models.UNet2DConditionModel(readJson(goldenPath('unet-tiny', 'config.json'))), goldenPath('unet-tiny', 'diffusion_pytorch_model.safetensors'));
  for (const file of ['golden_scale1.safetensors', 'golden_scale0.5.safetensors']) {
    const g = SafetensorsFile.open(goldenPath('controlnet-tiny', file));
    const sample = g.load('input.sample'), ctx = g.load('input.encoder_hidden_states'), cond = g.load('input.controlnet_cond');
    const ts = g.load('input.timestep').toFloat32()[0]!, scale = g.load('input.conditioning_scale').toFloat32()[0]!;
    let hooks = 0;
    const res = cn.forward(sample, ts, ctx, cond, {
      conditioningScale: scale,
      hook: (name: string, y: Tensor) => {
        if (!g.has(`hook.${name}`)) return;
        hooks++;
        const c = closeness(y.toFloat32(), g.load(`hook.${name}`).toFloat32());
        if (!(c.ratio <= 1)) t.fail(`${file} ${name}: max abs diff ${c.maxAbs}`);
      },
    });
    t.equal(hooks, g.keys().filter((k) => k.startsWith('hook.')).length, `${file}: all ${hooks} hooks compared`);
    let worst = 0;
    res.down.forEach((r, i) => { worst = Math.max(worst, closeness(r.toFloat32(), g.load(`output.down_block_res_samples.${i}`).toFloat32()).ratio); });
    worst = Math.max(worst, closeness(res.mid.toFloat32(), g.load('output.mid_block_res_sample').toFloat32()).ratio);
    t.ok(worst <= 1, `${file}: residuals within tolerance (worst ratio ${worst.toFixed(3)})`);
    const out = unet.forward(sample, ts, ctx, { downResiduals: res.down, midResidual: res.mid });
    const c = closeness(out.toFloat32(), g.load('unet.output.sample').toFloat32());
    t.ok(c.ratio <= 1, `${file}: UNet with residuals, max abs diff ${c.maxAbs.toExponential(2)}`);
    // A precomputed conditioning embedding gives the same residuals (the exact cache).
    const emb = cn.embedCondition(cond);
    const again = cn.forward(sample, ts, ctx, null, { conditioningScale: scale, condEmbedding: emb });
    t.same(Array.from(again.mid.data()), Array.from(res.mid.data()), 'cached conditioning embedding reproduces the residuals exactly');
    g.close();
  }
  const s = zeros([2, 4, 16, 16]);
  t.throws(() => cn.forward(s, 1, zeros([2, 77, 32]), zeros([2, 3, 64, 64])), { name: 'HgcError', code: 'SHAPE' });
  t.throws(() => cn.forward(s, 1, zeros([2, 77, 32]), null), { name: 'HgcError', code: 'ARG' });
  t.throws(() => unet.forward(s, 1, zeros([2, 77, 32]), { downResiduals: [s] }), { name: 'HgcError', code: 'SHAPE' });
  t.throws(() => unet.forward(zeros([2, 4, 15, 16]), 1, zeros([2, 77, 32])), { name: 'HgcError', code: 'SHAPE' });
});
