// Cache policies on the trained toy model: bit-identity of `none`, every policy runs and saves work, the pool
// budget holds, memory returns to its baseline, cancellation releases everything, composition and calibration.
import t from 'tap';

import { HgcError, cache, countMacs, denoise, memory } from '../dist/src/index.js';
import { toyCase, toyModels } from './helpers/toy';

const { unet, controlnet } = toyModels();
const c0 = toyCase(0);
const base = {
  unet, controls: [{ model: controlnet, image: c0.control }], cond: c0.cond, uncond: c0.uncond, steps: 20, guidance: 7.5,
  scheduler: 'unipc' as const, schedulerConfig: { finalSigmasType: 'zero' as const },
};
function run(policy?: cache.CachePolicy, extra: Record<string, unknown> = {}) {
  const { result, counter } = countMacs(() => denoise({ ...base, latents: c0.noise, policy, ...extra }));
  const data = result.toFloat32();
  result.dispose();
  return { data, macs: counter.total() };
}
const snr = (a: Float32Array, ref: Float32Array) => {
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) { n += (a[i]! - ref[i]!) ** 2; d += ref[i]! ** 2; }
  return 10 * Math.log10(d / n);
};
const ref = run();

t.test('none is bit-identical to the pipeline without a policy, with fewer MACs (exact caches)', async (t) => {
  const r = run(cache.none());
  t.ok(r.data.every((v, i) => v === ref.data[i]), 'bit-identical latents');
  t.ok(r.macs < ref.macs, `exact caches save MACs (${r.macs} < ${ref.macs})`);
});

t.test('every policy runs, saves MACs and stays close to the uncached run', async (t) => {
  const policies = [cache.deepCache(), cache.tgate(), cache.fasterDiffusion(), cache.hgc(), cache.hgc({ schedule: 'online' }),
    cache.hgc({ replayMaps: true }), cache.hgc({ gateStep: 10 }), cache.compose(cache.deepCache(), cache.tgate()), cache.controlNetEvery(2)];
  for (const p of policies) {
    const r = run(p);
    const s = snr(r.data, ref.data);
    t.ok(r.macs < ref.macs && Number.isFinite(s) && s > 5, `${p.name}: ${(100 * r.macs / ref.macs).toFixed(1)}% of the MACs, latent SNR ${s.toFixed(1)} dB`);
  }
  const maps = run(cache.hgc({ replayMaps: true })), outs = run(cache.hgc());
  t.ok(snr(maps.data, outs.data) > 60, 'replaying maps (P·V) equals replaying outputs up to rounding');
});

t.test('plans: HGC skips the ControlNet and runs shallow on cached steps; online HGC decides from drift', async (t) => {
  const plans: { step: number; full: boolean; cn: string; misses: string[] }[] = [];
  run(cache.hgc(), { onPlan: ({ step, plan, observation }: { step: number; plan: cache.StepPlan; observation: cache.StepObservation }) =>
    plans.push({ step, full: observation.full, cn: plan.controlnet, misses: observation.misses }) });
  t.same(plans.filter((p) => p.full).map((p) => p.step), [0, 3, 6, 10, 14, 18], 'full steps as scheduled');
  t.ok(plans.every((p) => p.misses.length === 0), 'no cache misses with an unlimited pool');
  t.ok(plans.filter((p) => !p.full).every((p) => p.cn === 'reuse'), 'cached steps reuse the ControlNet residuals');
  const online: boolean[] = [];
  run(cache.hgc({ schedule: 'online', threshold: 0.1 }), { onPlan: ({ observation }: { observation: cache.StepObservation }) => online.push(observation.full) });
  t.ok(online[0] && online.some((f) => !f), `online schedule ${online.map((f) => (f ? 'F' : '.')).join('')}`);
});

t.test('calibration: a recorded run gives a reusable schedule', async (t) => {
  const rec = cache.hgcCalibrationRecorder(0);
  run(rec);
  const cal = rec.calibration();
  t.equal(cal.drift.length, 20);
  t.ok(cal.drift.slice(1).every((d) => Number.isFinite(d) && d > 0), 'drift measured at every step');
  const json = JSON.parse(JSON.stringify(cal)) as cache.HgcCalibration;
  const steps = cache.fullStepsFromCalibration({ ...json, drift: cal.drift }, 0.65);
  t.equal(steps.length, 7);
  t.equal(steps[0], 0);
  const r = run(cache.hgc({ calibration: cal, lambdaInter: 0.65 }));
  t.ok(r.macs < ref.macs);
  t.throws(() => run(cache.hgc({ calibration: { ...cal, steps: 10 } })), { name: 'HgcError', code: 'ARG' });
});

t.test('a tiny pool budget is never exceeded and only costs speed', async (t) => {
  let stats: cache.CachePoolStats | undefined;
  const r = run(cache.hgc(), { cacheBudgetBytes: 64 * 1024, onCacheStats: (s: cache.CachePoolStats) => { stats = s; } });
  t.ok(stats && stats.peakBytesHeld <= 64 * 1024, `peak ${stats?.peakBytesHeld} bytes within the 64 KiB budget`);
  t.ok(stats && stats.rejected + stats.evictions > 0, `the budget forced ${stats?.evictions} evictions and ${stats?.rejected} refusals`);
  const full = run(cache.none());
  t.ok(snr(r.data, full.data) > 12, 'still a valid result (steps computed instead of reused)');
  let zero: cache.CachePoolStats | undefined;
  const z = run(cache.hgc(), { cacheBudgetBytes: 0, onCacheStats: (s: cache.CachePoolStats) => { zero = s; } });
  t.equal(zero?.peakBytesHeld, 0);
  t.ok(z.data.every((v, i) => v === full.data[i]), 'with no room at all every step computes: identical to none');
});

t.test('memory returns to its baseline after generations and after a cancelled one', async (t) => {
  run(cache.hgc());
  const before = memory();
  for (let i = 0; i < 5; i++) run(i % 2 ? cache.deepCache() : cache.hgc());
  const ac = new AbortController();
  t.throws(() => denoise({ ...base, latents: c0.noise, policy: cache.hgc(), signal: ac.signal, onStep: ({ step }: { step: number }) => { if (step === 4) ac.abort(); } }),
    { name: 'HgcError', message: /cancelled at step 5/ });
  t.throws(() => denoise({ ...base, latents: c0.noise, signal: ac.signal }), { name: 'HgcError', message: /cancelled at step 0/ });
  const after = memory();
  t.equal(after.liveTensors, before.liveTensors, 'no tensor leaked');
  t.equal(after.liveBytes, before.liveBytes, 'no bytes leaked');
});

t.test('bad policy options are rejected', async (t) => {
  t.throws(() => cache.deepCache({ interval: 0 }), HgcError);
  t.throws(() => cache.tgate({ gateStep: -1 }), HgcError);
  t.throws(() => cache.hgc({ lambdaInter: 2 }), HgcError);
  t.throws(() => cache.hgc({ schedule: 'sometimes' as 'online' }), HgcError);
  t.throws(() => cache.fasterDiffusion({ keySteps: [-1] }), HgcError);
  t.throws(() => cache.compose(), HgcError);
  t.throws(() => run(cache.hgc({ lambdaIntra: 40 })), { name: 'HgcError', code: 'ARG' });
});
