// denoise() and generate() with f16/bf16 models (latents and scheduler stay f32, the models and the decoder
// compute in their dtype), with and without a cache policy; text embeddings on the CPU and control images given
// as a PNG path reach models on another device; mismatched UNet and ControlNet dtypes are a clear DTYPE error.
import t from 'tap';

import { type DType, type Tensor, cache, denoise, generate, loadControlNet, loadTaesd, loadUNet, models, randn } from '../dist/src/index.js';
import { FIXTURES } from './helpers/golden';
import { testDevices } from './helpers/reference';
import { toyPath } from './helpers/toy';

const controlPng = toyPath('eval', 'case_000_control.png');

function run(dtype: DType, policy?: cache.CachePolicy, device = 'cpu' as 'cpu' | 'cuda-sim', size = 16, steps = 8): Float32Array {
  const unet = loadUNet(toyPath('unet'), { dtype, device });
  const controlnet = loadControlNet(toyPath('controlnet'), { dtype, device });
  const cond = randn([1, 77, 32], { seed: 1, device }), uncond = randn([1, 77, 32], { seed: 2, device });
  try {
    const x = denoise({ unet, controls: [{ model: controlnet, image: controlPng }], cond, uncond, steps, height: size, width: size, policy });
    try {
      if (x.dtype !== 'f32') throw new Error(`latents came back ${x.dtype}`);
      return x.toFloat32();
    } finally {
      x.dispose();
    }
  } finally {
    for (const m of [unet, controlnet]) m.dispose();
    for (const x of [cond, uncond] as Tensor[]) x.dispose();
  }
}

/** max |a − b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

t.test('f16 and bf16 models follow the f32 trajectory (8 steps, CFG, ControlNet)', async (t) => {
  for (const policy of [undefined, cache.hgc()]) {
    const ref = run('f32', policy);
    // Measured: f16 1.9e-2 (none) / 2.6e-2 (hgc), bf16 1.3e-1 / 1.6e-1 — the rounding of every op's output to
    // 11 or 8 significant bits, compounded over 8 steps. The bounds leave room for that and catch broken runs.
    for (const [dtype, bound] of [['f16', 6e-2], ['bf16', 0.4]] as const) {
      const got = run(dtype, policy);
      t.ok(got.every(Number.isFinite), `${policy?.name ?? 'no policy'} ${dtype}: finite latents`);
      const e = relErr(got, ref);
      t.ok(e < bound, `${policy?.name ?? 'no policy'} ${dtype}: ${e.toExponential(2)} from f32`);
    }
  }
});

t.test('UNet and ControlNet in different dtypes: DTYPE error', async (t) => {
  const unet = loadUNet(toyPath('unet'), { dtype: 'f16' });
  const controlnet = loadControlNet(toyPath('controlnet'));
  const cond = randn([1, 77, 32], { seed: 1 });
  t.throws(() => denoise({ unet, controls: [{ model: controlnet, image: controlPng }], cond, guidance: 1, steps: 1, height: 8, width: 8 }),
    { name: 'HgcError', code: 'DTYPE', message: /ControlNet's parameters are f32 but the UNet's are f16/ });
  for (const x of [unet, controlnet, cond]) x.dispose();
});

t.test('a control image path reaches models on cuda-sim', { skip: testDevices('conv2d').includes('cuda-sim') ? false : 'cuda-sim unavailable' }, async (t) => {
  const sim = run('f32', undefined, 'cuda-sim', 8, 2);
  const cpu = run('f32', undefined, 'cpu', 8, 2);
  // cuda-sim multiplies f16-rounded operands (docs/kernels-and-simulator.md): close to the CPU, not equal.
  const e = relErr(sim, cpu);
  t.ok(e < 2e-2, `cuda-sim vs cpu: ${e.toExponential(2)}`);
});

/** generate() on the toy model (8×8 latents, 3 steps) with the models and TAESD in `dtype` on `device`; the toy
 * text encoder stays on the CPU in f32. Returns the image. */
function image(dtype: DType, device: 'cpu' | 'cuda-sim'): Float32Array {
  const unet = loadUNet(toyPath('unet'), { dtype, device });
  const controlnet = loadControlNet(toyPath('controlnet'), { dtype, device });
  const vae = loadTaesd(`${FIXTURES}/taesd`, { parts: 'decoder', dtype, device });
  const textEncoder = new models.ToyTextEncoder(toyPath('text'));
  try {
    const r = generate({ unet, controls: [{ model: controlnet, image: controlPng }], textEncoder, vae, prompt: 'red square , blue background',
      steps: 3, height: 8, width: 8, seed: 3 });
    try {
      if (r.image.dtype !== 'f32' || r.image.device !== device) throw new Error(`image came back ${r.image.dtype} on ${r.image.device}`);
      return r.image.toFloat32();
    } finally {
      r.image.dispose();
      r.latents.dispose();
    }
  } finally {
    for (const m of [unet, controlnet, vae]) m.dispose();
  }
}

t.test('generate() with f16 models and decoder: the f32 image within f16 rounding', async (t) => {
  const ref = image('f32', 'cpu'), half = image('f16', 'cpu');
  const diff = half.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i]!)), 0);
  t.ok(diff < 0.05, `max |f16 − f32| = ${diff.toFixed(4)} of the [0, 1] range`);
});

t.test('generate() with models on cuda-sim and the text encoder on the cpu', { skip: testDevices('conv2d').includes('cuda-sim') ? false : 'cuda-sim unavailable' }, async (t) => {
  const ref = image('f32', 'cpu'), sim = image('f32', 'cuda-sim');
  const diff = sim.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i]!)), 0);
  t.ok(diff < 0.05, `max |cuda-sim − cpu| = ${diff.toFixed(4)} of the [0, 1] range`);
});
