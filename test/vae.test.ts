// AutoencoderKL (the SD VAE) against diffusers' golden outputs: decode, encode and every hooked intermediate.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { SafetensorsFile, type Tensor, tensor, zeros } from '../dist/src/index.js';
import { AutoencoderKL, loadVae, parseAutoencoderKLConfig, SD15_VAE_CONFIG } from '../dist/src/models/vae.js';
import { closeness, goldenPath, readJson } from './helpers/golden';

const FOLDER = 'vae-decoder-tiny';
const code = (c: string) => ({ name: 'HgcError', code: c });

function compare(t: Tap.Test, golden: SafetensorsFile, key: string, y: Tensor, seen?: string[]): void {
  if (!golden.has(key)) return;
  seen?.push(key);
  const ref = golden.load(key);
  t.same(y.shape, ref.shape, `${key} shape`);
  const c = closeness(y.toFloat32(), ref.toFloat32());
  t.ok(c.ratio <= 1, `${key}: max abs diff ${c.maxAbs.toExponential(2)} (ratio ${c.ratio.toFixed(3)})`);
  ref.dispose();
}

t.test('vae-decoder-tiny: decode, encode and every hook match diffusers', async (t) => {
  const vae = loadVae(goldenPath(FOLDER));
  t.equal(vae.config.scalingFactor, 0.18215);
  t.equal(vae.downsampleFactor, 2);
  const golden = SafetensorsFile.open(goldenPath(FOLDER, 'golden.safetensors'));
  const seen: string[] = [];
  const hook = (name: string, y: Tensor) => compare(t, golden, `hook.${name}`, y, seen);

  const latents = golden.load('input.latents');
  const decoded = vae.decode(latents, { hook });
  compare(t, golden, 'output.decoded', decoded);
  const plain = vae.decode(latents);
  compare(t, golden, 'output.decoded', plain);  // the fused GroupNorm+SiLU path (no hook)

  const image = golden.load('input.image');
  const enc = vae.encode(image, { hook });
  const encPlain = vae.encode(image);
  compare(t, golden, 'output.moments', encPlain.moments);
  compare(t, golden, 'output.moments', enc.moments);
  compare(t, golden, 'output.mean', enc.mean);
  compare(t, golden, 'output.logvar', enc.logvar);

  const expected = golden.keys().filter((k) => k.startsWith('hook.')).sort();
  t.same([...seen].sort(), expected, 'every hooked intermediate was compared');
  for (const x of [latents, decoded, plain, image, enc.moments, enc.mean, enc.logvar, encPlain.moments, encPlain.mean, encPlain.logvar]) x.dispose();
  golden.close();
  vae.dispose();
});

t.test('logvar is clamped to [-30, 20]', async (t) => {
  // quant_conv's bias moves the log-variance channels far out of range on both sides.
  const vae = new AutoencoderKL(readJson(goldenPath(FOLDER, 'config.json'))).initRandom({ seed: 3 });
  const bias = vae.quant_conv!.bias!;
  const b = new Float32Array(8);
  b.set([0, 0, 0, 0, 1000, -1000, 0, 0]);
  bias.tensor!.dispose();
  bias.tensor = tensor(b, [8]);
  const img = zeros([1, 3, 8, 8]);
  const enc = vae.encode(img);
  const mom = enc.moments.toFloat32(), lv = enc.logvar.toFloat32();
  const hw = 16;
  for (let c = 0; c < 4; c++) {
    for (let i = 0; i < hw; i++) {
      const m = mom[(4 + c) * hw + i]!;
      const want = Math.min(Math.max(m, -30), 20);
      if (Math.abs(lv[c * hw + i]! - want) > 1e-5 * Math.max(1, Math.abs(want))) {
        t.fail(`logvar channel ${c} at ${i}: ${lv[c * hw + i]} vs clamp(${m})`);
        return;
      }
    }
  }
  t.equal(lv[0], 20, 'channel 0 clamps to 20');
  t.equal(lv[hw], -30, 'channel 1 clamps to -30');
  for (const x of [img, enc.moments, enc.mean, enc.logvar]) x.dispose();
  vae.dispose();
});

t.test('bad inputs', async (t) => {
  const vae = new AutoencoderKL(readJson(goldenPath(FOLDER, 'config.json'))).initRandom();
  const bad = [zeros([1, 3, 4, 4]), zeros([1, 4, 4]), zeros([1, 5, 8, 8])];
  t.throws(() => vae.decode(bad[0]!), { ...code('SHAPE'), message: /decode: latents must be \[N, 4, H, W\], got \[1, 3, 4, 4\]/ });
  t.throws(() => vae.decode(bad[1]!), code('SHAPE'));
  t.throws(() => vae.encode(bad[2]!), { ...code('SHAPE'), message: /encode: image must be \[N, 3, H, W\]/ });
  t.throws(() => vae.encode(bad[1]!), code('SHAPE'));
  t.throws(() => vae.decode({} as Tensor), code('ARG'));
  t.throws(() => vae.decode(zeros([1, 4, 2, 2]), { hook: 5 as unknown as () => void }), code('ARG'));
  for (const x of bad) x.dispose();
  vae.dispose();
});

t.test('config parsing', async (t) => {
  const sd = parseAutoencoderKLConfig(SD15_VAE_CONFIG);
  t.same(sd.blockOutChannels, [128, 256, 512, 512]);
  const full = new AutoencoderKL().initMeta();
  t.equal(full.parameterCount(), 83653863, 'SD 1.5 VAE parameter count');
  t.ok(full.namedParameters().some(([n]) => n === 'decoder.up_blocks.0.upsamplers.0.conv.weight'));
  full.dispose();
  const base = readJson(goldenPath(FOLDER, 'config.json'));
  t.throws(() => parseAutoencoderKLConfig(null), code('ARG'));
  t.throws(() => parseAutoencoderKLConfig({ ...base, down_block_types: ['DownBlock2D', 'DownEncoderBlock2D'] }), { ...code('ARG'), message: /DownBlock2D/ });
  t.throws(() => parseAutoencoderKLConfig({ ...base, up_block_types: ['UpDecoderBlock2D'] }), code('ARG'));
  t.throws(() => parseAutoencoderKLConfig({ ...base, norm_num_groups: 5 }), { ...code('ARG'), message: /norm_num_groups/ });
  t.throws(() => parseAutoencoderKLConfig({ ...base, act_fn: 'relu' }), code('ARG'));
  t.throws(() => parseAutoencoderKLConfig({ ...base, block_out_channels: [] }), code('ARG'));
  t.throws(() => parseAutoencoderKLConfig({ ...base, layers_per_block: 0 }), code('ARG'));
  t.throws(() => parseAutoencoderKLConfig({ ...base, use_quant_conv: 1 }), code('ARG'));
  t.throws(() => parseAutoencoderKLConfig({ ...base, scaling_factor: 'x' }), code('ARG'));
  const noQuant = new AutoencoderKL({ ...base, use_quant_conv: false, use_post_quant_conv: false, mid_block_add_attention: false });
  const names = noQuant.namedParameters().map(([n]) => n);
  t.notOk(names.some((n) => n.includes('quant_conv') || n.includes('attentions')), 'optional parts left out');
  noQuant.initRandom();
  const z = zeros([1, 4, 3, 5]);
  const img = noQuant.decode(z);
  t.same(img.shape, [1, 3, 6, 10]);
  const enc = noQuant.encode(img);
  t.same(enc.moments.shape, [1, 8, 3, 5], 'odd sizes downsample as diffusers does');
  for (const x of [z, img, enc.moments, enc.mean, enc.logvar]) x.dispose();
  noQuant.dispose();
});

t.test('loadVae errors and pipeline roots', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-vae-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  t.throws(() => loadVae(''), code('ARG'));
  t.throws(() => loadVae(path.join(tmp, 'nope')), { ...code('IO'), message: /does not exist/ });
  const root = path.join(tmp, 'pipe');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'model_index.json'), '{}');
  t.throws(() => loadVae(root), { ...code('IO'), message: /no vae\/config\.json/ });
  fs.mkdirSync(path.join(root, 'vae'));
  for (const f of ['config.json', 'diffusion_pytorch_model.safetensors']) fs.copyFileSync(goldenPath(FOLDER, f), path.join(root, 'vae', f));
  const vae = loadVae(root);
  t.equal(vae.config.latentChannels, 4, 'loaded from the vae/ subfolder');
  vae.dispose();
  const wrong = path.join(tmp, 'wrong');
  fs.mkdirSync(wrong);
  fs.writeFileSync(path.join(wrong, 'config.json'), JSON.stringify({ _class_name: 'UNet2DConditionModel' }));
  t.throws(() => loadVae(wrong), { ...code('IO'), message: /not an AutoencoderKL/ });
  fs.writeFileSync(path.join(wrong, 'config.json'), '[1]');
  t.throws(() => loadVae(wrong), { ...code('IO'), message: /JSON object/ });
  const mismatch = path.join(tmp, 'mismatch');
  fs.mkdirSync(mismatch);
  fs.writeFileSync(path.join(mismatch, 'config.json'), JSON.stringify({ ...readJson(goldenPath(FOLDER, 'config.json')), layers_per_block: 1 }));
  fs.copyFileSync(goldenPath(FOLDER, 'diffusion_pytorch_model.safetensors'), path.join(mismatch, 'diffusion_pytorch_model.safetensors'));
  t.throws(() => loadVae(mismatch), { ...code('IO'), message: /unexpected/ });
});
