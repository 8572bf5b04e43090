// denoise() with f16/bf16 models (latents and scheduler stay f32, the models compute in their dtype), with and
// without a cache policy; control images given as a PNG path reach the models' device; mismatched UNet and
// ControlNet dtypes are a clear DTYPE error.
import t from 'tap';

import { type DType, type Tensor, cache, denoise, loadControlNet, loadUNet, randn } from '../dist/src/index.js';
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
