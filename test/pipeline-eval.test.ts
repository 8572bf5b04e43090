// The pipeline's edges (arguments, guidance 1, several ControlNets, control images), the toy text encoder, the
// evaluation metrics and the cache store used directly.
import t from 'tap';

import { HgcError, cache, createScheduler, denoise, evaluation, models, prepareControl, tensor, zeros } from '../dist/src/index.js';
import { toyCase, toyModels, toyPath } from './helpers/toy';

const { unet, controlnet } = toyModels();
const c0 = toyCase(0);

t.test('toy text encoder reproduces the golden embeddings', async (t) => {
  const enc = new models.ToyTextEncoder(toyPath('text'));
  t.same(enc.tokenize('red circle, blue square, green background').slice(0, 11), [1, 4, 10, 3, 6, 11, 3, 5, 13, 2, 0]);
  t.same(enc.tokenize('   ').every((id) => id === 0), true, 'empty prompt is all padding');
  t.same(Array.from(enc.encode('').data()), Array.from(c0.uncond.data()), 'unconditional embedding is exact');
  t.throws(() => enc.tokenize('red dragon'), { name: 'HgcError', code: 'ARG', message: /'dragon'/ });
  t.throws(() => new models.ToyTextEncoder('/nonexistent'), { name: 'HgcError', code: 'IO' });
});

t.test('evaluation metrics', async (t) => {
  const rgb = new Uint8Array([220, 40, 40, 40, 170, 60, 230, 230, 230, 0, 0, 0]);
  t.same(Array.from(evaluation.segmentByPalette(rgb)), [0, 1, 5, 1], 'black is nearest to green');
  const acc = new evaluation.MiouAccumulator(3);
  acc.add(new Uint8Array([0, 0, 1, 2]), new Uint8Array([0, 1, 1, 2]));
  t.ok(Math.abs(acc.miou() - (0.5 + 0.5 + 1) / 3) < 1e-12, 'dataset mIoU');
  t.equal(acc.pixelAccuracy(), 0.75);
  t.equal(evaluation.psnrUint8(new Uint8Array([1, 2]), new Uint8Array([1, 2])), Infinity);
  t.ok(Math.abs(evaluation.psnrUint8(new Uint8Array([0]), new Uint8Array([255])) - 0) < 1e-12);
  t.equal(evaluation.agreement(new Uint8Array([1, 2, 3, 4]), new Uint8Array([1, 2, 0, 4])), 0.75);
});

t.test('control images: resized to 8× the latent, validated', async (t) => {
  const img = prepareControl(tensor([0, 1, 0.5, 0.25, 0, 1, 1, 1, 1, 0, 0, 0], [1, 3, 2, 2]), 4, 4);
  t.same(img.shape, [1, 3, 4, 4]);
  const d = img.data() as Float32Array;
  t.equal(d[0], 0, 'corner keeps its value');
  t.ok(Math.abs(d[1]! - 0.25) < 1e-6, 'bilinear, half-pixel centres');
  t.same(prepareControl(zeros([3, 8, 8]), 8, 8).shape, [1, 3, 8, 8]);
  const fromFile = prepareControl(toyPath('eval', 'case_000_control.png'), 64, 64);
  t.same(fromFile.shape, [1, 3, 64, 64], 'a PNG path, resized');
  t.throws(() => prepareControl('/nonexistent.png', 8, 8), { name: 'HgcError', code: 'IO' });
  t.throws(() => prepareControl(tensor([2, 0, 0], [1, 3, 1, 1]), 8, 8), { name: 'HgcError', code: 'ARG', message: /\[0, 1\]/ });
  t.throws(() => prepareControl(zeros([1, 4, 8, 8]), 8, 8), { name: 'HgcError', code: 'SHAPE' });
  t.throws(() => prepareControl(zeros([8, 8]), 8, 8), { name: 'HgcError', code: 'SHAPE' });
});

t.test('denoise: arguments, guidance 1, scheduler instances, several ControlNets', async (t) => {
  const base = { unet, cond: c0.cond, uncond: c0.uncond, steps: 3 };
  t.throws(() => denoise({ ...base, steps: 0 }), { name: 'HgcError', code: 'ARG' });
  t.throws(() => denoise({ ...base, guidance: NaN }), { name: 'HgcError', code: 'ARG' });
  t.throws(() => denoise({ ...base, uncond: undefined }), { name: 'HgcError', code: 'ARG', message: /uncond/ });
  t.throws(() => denoise({ ...base, cond: zeros([1, 77, 31]) }), { name: 'HgcError', code: 'SHAPE' });
  t.throws(() => denoise({ ...base, latents: zeros([1, 3, 16, 16]) }), { name: 'HgcError', code: 'SHAPE' });
  const noCfg = denoise({ ...base, uncond: undefined, guidance: 1, seed: 5, height: 16, width: 16 });
  t.same(noCfg.shape, [1, 4, 16, 16]);
  const steps: number[] = [];
  const sched = createScheduler('ddim', { steps: 3 });
  const a = denoise({ ...base, scheduler: sched, latents: c0.noise, controls: [{ model: controlnet, image: c0.control }], onStep: ({ step }) => steps.push(step) });
  t.same(steps, [0, 1, 2], 'progress callback per step');
  // Two ControlNets at half scale sum to one at full scale (residuals add linearly).
  const two = denoise({ ...base, scheduler: 'ddim', latents: c0.noise, controls: [{ model: controlnet, image: c0.control, scale: 0.5 }, { model: controlnet, image: c0.control, scale: 0.5 }] });
  const one = denoise({ ...base, scheduler: 'ddim', latents: c0.noise, controls: [{ model: controlnet, image: c0.control }] });
  const x = two.toFloat32(), y = one.toFloat32();
  t.ok(x.every((v, i) => Math.abs(v - y[i]!) < 1e-4), 'two half-scale ControlNets ≈ one at full scale');
  t.same(Array.from(a.data()), Array.from(one.data()), 'a scheduler instance gives the same result as its name');
  const pol = denoise({ ...base, scheduler: 'ddim', latents: c0.noise, controls: [{ model: controlnet, image: c0.control, scale: 0.5 }, { model: controlnet, image: c0.control, scale: 0.5 }], policy: cache.none() });
  t.same(Array.from(pol.data()), Array.from(two.data()), 'several ControlNets under a policy: identical');
  const g1 = denoise({ ...base, uncond: undefined, guidance: 1, latents: c0.noise, policy: cache.hgc() });
  t.same(g1.shape, [1, 4, 16, 16], 'a policy without CFG');
});

t.test('the cache store used directly', async (t) => {
  const store = new cache.CacheStore(1000);
  const a = tensor(new Float32Array(100).fill(1), [100]);
  t.ok(store.put('a', a));
  t.ok(store.has('a'));
  const got = store.get('a')!;
  t.same(got.shape, [100]);
  a.dispose();
  t.equal((got.data() as Float32Array)[5], 1, 'the pooled copy outlives the original');
  t.notOk(store.put('big', zeros([300])), 'over budget: refused');
  t.ok(store.put('b', zeros([200])), 'fits after evicting the least recently used entry');
  t.ok(store.stats().evictions >= 1);
  got.dispose();
  t.equal(store.get('missing'), undefined);
  t.ok(store.stats().misses >= 1);
  t.ok(store.put('m', zeros([10, 10], { device: 'meta' })), 'meta tensors are tracked by shape');
  t.same(store.get('m')?.shape, [10, 10]);
  t.ok(store.keys().includes('m'));
  t.ok(store.release('m'));
  store.setBudget(10);
  t.throws(() => store.setBudget(-1), HgcError);
  t.throws(() => new cache.CacheStore(NaN), HgcError);
  store.clear();
  t.equal(store.stats().entries, 0);
  const info = { totalSteps: 20, cfg: true, latentHeight: 64, latentWidth: 64, branches: 11, channels: [320, 640, 1280, 1280] };
  for (const p of [cache.none(), cache.deepCache(), cache.tgate(), cache.fasterDiffusion(), cache.hgc(), cache.compose(cache.deepCache(), cache.tgate())]) {
    t.ok((p.memoryBytes?.(info) ?? 0) >= 0, `${p.name} declares ${(p.memoryBytes?.(info) ?? 0) / 2 ** 20} MiB`);
  }
  t.ok(cache.hgc().memoryBytes!(info) > cache.deepCache().memoryBytes!(info), 'HGC keeps more than DeepCache (residuals, attention)');
});
