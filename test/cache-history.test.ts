// Feature history behind cached steps' reuse: Lagrange weights, exact extrapolation of polynomial features,
// batch matching across the CFG gate, the pool budget limiting the history, and the effect on a toy generation.
import t from 'tap';

import { cache, countMacs, denoise, memory, tensor } from '../dist/src/index.js';
import { toyCase, toyModels } from './helpers/toy';

/** A [batch, 3, 2, 2] feature whose value at step s is a + b·s + c·s² (per element). */
function feature(s: number, batch = 1, c = 0) {
  const n = batch * 12;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (i % 7) - 3 + 0.25 * i * s + c * (i % 3) * s * s;
  return tensor(data, [batch, 3, 2, 2]);
}
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

t.test('lagrange weights', async (t) => {
  t.same(cache.lagrangeWeights([8], 11), [1], 'one node: hold');
  const w = cache.lagrangeWeights([8, 3], 11);
  t.ok(Math.abs(w[0]! - 1.6) < 1e-12 && Math.abs(w[1]! + 0.6) < 1e-12, `linear through (3, 8) at 11: ${w}`);
  const q = cache.lagrangeWeights([13, 8, 3], 15);
  t.ok(Math.abs(q.reduce((s, x) => s + x, 0) - 1) < 1e-12, 'weights sum to 1');
  const p = (s: number) => 2 - s + 0.5 * s * s;
  t.ok(Math.abs(q[0]! * p(13) + q[1]! * p(8) + q[2]! * p(3) - p(15)) < 1e-9, 'quadratic reproduced exactly');
  t.same([cache.reuseOrder('hold'), cache.reuseOrder(undefined), cache.reuseOrder('linear'), cache.reuseOrder('quadratic')], [0, 0, 1, 2]);
});

t.test('extrapolation of linear and quadratic features', async (t) => {
  const store = new cache.CacheStore();
  const h = new cache.FeatureHistory(store);
  t.equal(h.reuse('x', 1, 5, 1), undefined, 'nothing stored');
  for (const s of [0, 3, 8]) {
    const f = feature(s, 1, 0.1);
    h.keep('x', f, s, 2);
    f.dispose();
  }
  const at = 11;
  const truth = feature(at, 1, 0.1).toFloat32();
  const hold = h.reuse('x', 1, at, 0)!;
  t.same(Array.from(hold.toFloat32()), Array.from(feature(8, 1, 0.1).toFloat32()), 'order 0 holds the newest value');
  const quad = h.reuse('x', 1, at, 2)!;
  t.ok(maxDiff(quad.toFloat32(), truth) < 1e-3, `quadratic data extrapolated exactly (${maxDiff(quad.toFloat32(), truth)})`);
  const lin = h.reuse('x', 1, at, 1)!;
  t.ok(maxDiff(lin.toFloat32(), truth) > 0.1, 'a line misses the curvature');
  [hold, quad, lin].forEach((x) => x.dispose());

  const s2 = new cache.CacheStore();
  const h2 = new cache.FeatureHistory(s2);
  for (const s of [3, 8]) {
    const f = feature(s, 2);
    h2.keep('y', f, s, 1);
    f.dispose();
  }
  const b1 = h2.reuse('y', 1, 12, 1)!;
  t.same(b1.shape, [1, 3, 2, 2], 'batch 2 history served at batch 1 (after the gate)');
  const want = feature(12, 2);
  const w = want.toFloat32();
  const mean = Float32Array.from({ length: 12 }, (_, i) => (w[i]! + w[12 + i]!) / 2);
  t.ok(maxDiff(b1.toFloat32(), mean) < 1e-4, 'mean of the extrapolated halves');
  [b1, want].forEach((x) => x.dispose());
  store.clear();
  s2.clear();
});

t.test('same-step keeps, and the budget limiting the history', async (t) => {
  const bytes = 12 * 4;
  const store = new cache.CacheStore(bytes * 2);
  const h = new cache.FeatureHistory(store);
  const put = (s: number, c = 0) => { const f = feature(s, 1, c); h.keep('x', f, s, 1); f.dispose(); };
  put(2);
  put(5);
  put(5, 1);  // the same step again: replaces the newest, keeps step 2 as the older value
  const got = h.reuse('x', 1, 8, 1)!;
  const f2 = feature(2).toFloat32(), f5 = feature(5, 1, 1).toFloat32();
  const expect = f5.map((v, i) => v + 1 * (v - f2[i]!));
  t.ok(maxDiff(got.toFloat32(), expect) < 1e-4, 'extrapolates from step 2 and the replaced step 5');
  got.dispose();
  store.setBudget(bytes);  // room for one value only: the history degrades to hold
  store.clear();
  put(10);
  put(12);
  t.ok(store.stats().bytesHeld <= bytes, `never above the budget (${store.stats().bytesHeld})`);
  const held = h.reuse('x', 1, 14, 1);
  if (held) {
    t.same(Array.from(held.toFloat32()), Array.from(feature(12).toFloat32()), 'falls back to the newest value');
    held.dispose();
  } else {
    t.pass('nothing fitted: the caller computes instead');
  }
  store.clear();
});

t.test('linear reuse on the toy model: closer to the uncached run, same MACs, memory released', async (t) => {
  const { unet, controlnet } = toyModels();
  const c0 = toyCase(0);
  const run = (policy?: cache.CachePolicy) => {
    const { result, counter } = countMacs(() => denoise({
      unet, controls: [{ model: controlnet, image: c0.control }], cond: c0.cond, uncond: c0.uncond, steps: 20, guidance: 7.5,
      scheduler: 'unipc', schedulerConfig: { finalSigmasType: 'zero' }, latents: c0.noise, policy,
    }));
    const data = result.toFloat32();
    result.dispose();
    return { data, macs: counter.total() };
  };
  const err = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.length);
  const ref = run();
  const before = memory().tensors;
  const hold = run(cache.hgc({ reuse: 'hold' }));
  const linear = run(cache.hgc());
  t.equal(memory().tensors, before, 'no tensors left behind');
  t.equal(linear.macs, hold.macs, 'extrapolation costs no counted MACs');
  t.ok(err(linear.data, ref.data) < err(hold.data, ref.data), `closer to the uncached latents (${err(linear.data, ref.data)} < ${err(hold.data, ref.data)})`);
  t.throws(() => cache.hgc({ reuse: 'cubic' as 'linear' }), { name: 'HgcError', code: 'ARG' });
});
