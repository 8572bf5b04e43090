// Reuse in the scheduler's coordinates (StepPlan.reuseAxis) and HGC's per-step cache depth (a λ_intra list):
// positions and extrapolation coefficients against hand computations, the step context denoise() passes, and
// both options on the trained toy model (no cache misses, nothing left behind, still close to the uncached run).
import t from 'tap';

import { cache, createScheduler, denoise, memory, tensor } from '../dist/src/index.js';
import { toyCase, toyModels } from './helpers/toy';

const ctx = (index: number, alphaCumprod?: number) => ({ index, timestep: 999 - 50 * index, totalSteps: 20, cfg: true, previousBatch: 2, alphaCumprod });

t.test('positions on each axis', async (t) => {
  t.equal(cache.reusePosition(ctx(7, 0.25), 'step'), 7);
  t.equal(cache.reusePosition(ctx(7, 0.25), undefined), 7, 'step by default');
  t.equal(cache.reusePosition(ctx(7, 0.25), 'timestep'), 649);
  t.ok(Math.abs(cache.reusePosition(ctx(7, 0.25), 'sigma') - Math.sqrt(3)) < 1e-12, 'σ = √((1 − ᾱ)/ᾱ)');
  t.ok(Math.abs(cache.reusePosition(ctx(7, 0.25), 'logSnr') - Math.log(1 / 3)) < 1e-12, 'log(ᾱ/(1 − ᾱ))');
  t.throws(() => cache.reusePosition(ctx(7), 'logSnr'), { name: 'HgcError', code: 'ARG', message: /alphaCumprod/ });
  t.throws(() => cache.reusePosition(ctx(7, 1), 'sigma'), { name: 'HgcError', code: 'ARG' });
  t.equal(cache.checkReuseAxis(undefined, 'x'), 'step');
  t.throws(() => cache.checkReuseAxis('snr', 'x'), { name: 'HgcError', code: 'ARG', message: /reuseAxis/ });
  t.throws(() => cache.hgc({ reuseAxis: 'time' as 'step' }), { name: 'HgcError', code: 'ARG' });
  const ac = [0.9, 0.8, 0.5];
  t.ok(Math.abs(cache.alphaCumprodAt(ac, 1.5)! - 0.65) < 1e-12, 'interpolated between integer timesteps');
  t.equal(cache.alphaCumprodAt(ac, 2), 0.5);
  t.equal(cache.alphaCumprodAt(ac, 7), 0.5, 'clamped');
  t.equal(cache.alphaCumprodAt([], 1), undefined);
});

t.test('extrapolation coefficients along the log-SNR of the UniPC schedule', async (t) => {
  const s = createScheduler('unipc', { steps: 20, finalSigmasType: 'zero' });
  const lam = (i: number) => { const a = s.alphasCumprod[s.timesteps[i]!]!; return Math.log(a / (1 - a)); };
  // Step 19 served from the full steps 13 and 18: x(18) + c·(x(18) − x(13)), c = (λ19 − λ18)/(λ18 − λ13).
  const c = (lam(19) - lam(18)) / (lam(18) - lam(13));
  t.ok(c > 0.35 && c < 0.45, `the last step extrapolates twice as far in log-SNR as in steps (${c.toFixed(3)} vs 0.2)`);
  const store = new cache.CacheStore();
  const h = new cache.FeatureHistory(store);
  const x13 = tensor(new Float32Array([1, 2, -3, 0.5]), [1, 4, 1, 1]), x18 = tensor(new Float32Array([2, 1, -1, 0.25]), [1, 4, 1, 1]);
  h.keep('f', x13, 13, 1, lam(13));
  h.keep('f', x18, 18, 1, lam(18));
  const got = h.reuse('f', 1, lam(19), 1)!.toFloat32();
  const want = [2 + c * 1, 1 - c * 1, -1 + c * 2, 0.25 - c * 0.25];
  t.ok(want.every((v, i) => Math.abs(got[i]! - v) < 1e-5), `x(18) + ${c.toFixed(4)}·(x(18) − x(13)): ${Array.from(got)}`);
  const byStep = h.reuse('f', 1, lam(18), 1)!.toFloat32();
  t.same(Array.from(byStep), Array.from(x18.toFloat32()), 'at a stored position: the stored value');
  [x13, x18].forEach((x) => x.dispose());
  store.clear();
});

const { unet, controlnet } = toyModels();
const c0 = toyCase(0);
function run(policy?: cache.CachePolicy, onPlan?: (i: { step: number; plan: cache.StepPlan; observation: cache.StepObservation }) => void) {
  const result = denoise({
    unet, controls: [{ model: controlnet, image: c0.control }], cond: c0.cond, uncond: c0.uncond, steps: 20, guidance: 7.5,
    scheduler: 'unipc', schedulerConfig: { finalSigmasType: 'zero' }, latents: c0.noise, policy, onPlan,
  });
  const data = result.toFloat32();
  result.dispose();
  return data;
}
const rms = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.length);

t.test('denoise passes ᾱ of each step to the policy', async (t) => {
  const seen: { t: number; a?: number }[] = [];
  run({ name: 'spy', plan: (c) => { seen.push({ t: c.timestep, a: c.alphaCumprod }); return cache.fullPlan(c); } });
  const s = createScheduler('unipc', { steps: 20, finalSigmasType: 'zero' });
  t.equal(seen.length, 20);
  t.ok(seen.every((x, i) => x.t === s.timesteps[i] && x.a === s.alphasCumprod[x.t]), 'ᾱ at the step timestep');
});

t.test('reuse along log-SNR and a per-step depth on the toy model', async (t) => {
  const ref = run();
  const before = memory().tensors;
  const step = run(cache.hgc({ lambdaIntra: 1, fullSteps: [0, 3, 8, 13, 18] }));
  const logSnr = run(cache.hgc({ lambdaIntra: 1, fullSteps: [0, 3, 8, 13, 18], reuseAxis: 'logSnr' }));
  t.ok(rms(step, logSnr) > 1e-4, 'a different extrapolation');
  t.ok(rms(logSnr, ref) < 2 * rms(step, ref), `close to the uncached run (${rms(logSnr, ref).toFixed(4)} vs ${rms(step, ref).toFixed(4)})`);

  const plans: { step: number; block: cache.BlockPlan; extra?: readonly number[]; misses: string[]; full: boolean }[] = [];
  const depth = run(cache.hgc(), ({ step: i, plan, observation }) =>
    plans.push({ step: i, block: plan.block, extra: plan.storeBranches, misses: observation.misses, full: observation.full }));
  t.equal(memory().tensors, before, 'no tensors left behind');
  t.ok(plans.every((p) => p.misses.length === 0), 'no misses: full steps kept h_0 and h_2');
  t.same(plans.filter((p) => p.full).map((p) => p.step), [0, 3, 6, 10, 14, 18]);
  t.same(plans.filter((p) => p.block.kind === 'shallow' && p.block.branch === 2).map((p) => p.step), [16, 17, 19], 'branch 2 in the last fifth');
  t.ok(plans.every((p) => p.block.kind !== 'shallow' || p.block.branch === 2 || p.block.branch === 0), 'branch 0 elsewhere');
  t.same(plans[0]!.extra, [2], 'full steps also keep h_2');
  const single = run(cache.hgc({ lambdaIntra: 0 }));
  t.ok(rms(depth, ref) < rms(single, ref), `deeper late steps are closer to the uncached run (${rms(depth, ref).toFixed(4)} < ${rms(single, ref).toFixed(4)})`);

  const info = { totalSteps: 20, cfg: true, latentHeight: 64, latentWidth: 64, branches: 11, channels: [320, 640, 1280, 1280] };
  t.ok(cache.hgc().memoryBytes!(info) > cache.hgc({ lambdaIntra: 0 }).memoryBytes!(info), 'the extra h_2 is declared');
  t.throws(() => cache.hgc({ lambdaIntra: [] }), { name: 'HgcError', code: 'ARG' });
  t.throws(() => cache.hgc({ lambdaIntra: [0, 1.5] }), { name: 'HgcError', code: 'ARG', message: /lambdaIntra\[1\]/ });
  t.throws(() => cache.hgc({ lambdaIntra: [0, 1], schedule: 'online' }), { name: 'HgcError', code: 'ARG', message: /calibrated/ });
  t.throws(() => run(cache.hgc({ lambdaIntra: [0, 1, 2] })), { name: 'HgcError', code: 'ARG', message: /3 branches, the generation has 20/ });
  t.throws(() => run(cache.hgc({ lambdaIntra: [...Array(19).fill(0), 40] })), { name: 'HgcError', code: 'ARG', message: /out of range/ });
  t.equal(memory().tensors, before, 'nothing left behind after the errors');
});
