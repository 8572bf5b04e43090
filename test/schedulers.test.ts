// Schedulers: timesteps, sigmas and 20-step trajectories against the diffusers goldens; bad input; history handling.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

import { tensor, tidy, zeros } from '../dist/src/index.js';
import {
  DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, type Scheduler, type SchedulerName, UniPCMultistepScheduler,
  createScheduler, makeBetas, schedulerNames,
} from '../dist/src/schedulers/index.js';
import { testDevices } from './helpers/reference';
import { readSafetensors } from './helpers/safetensors-lite';

const code = (c: string) => ({ name: 'HgcError', code: c });
const dir = path.resolve(__dirname, '../../shared/fixtures/golden/schedulers');

interface Fixture {
  resolved_config: Record<string, unknown>;
  schedules: Record<string, {
    timesteps: number[]; init_noise_sigma: number; sigmas?: number[];
    final_alpha_cumprod?: number; alphas_cumprod_at_timesteps?: number[];
  }>;
}

const cases: { file: string; name: SchedulerName; make: () => Scheduler & { sigmas?: readonly number[] } }[] = [
  { file: 'ddim', name: 'ddim', make: () => new DDIMScheduler() },
  { file: 'euler_discrete', name: 'euler', make: () => new EulerDiscreteScheduler() },
  { file: 'dpmsolver_multistep', name: 'dpmpp-2m', make: () => new DPMSolverMultistepScheduler() },
  { file: 'unipc_multistep', name: 'unipc', make: () => new UniPCMultistepScheduler() },
];

/** max over i of |a − b| − (atol + rtol·|b|); ≤ 0 means within tolerance. */
function excess(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) return Infinity;
  let worst = -Infinity;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!) - (atol + rtol * Math.abs(b[i]!));
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
  }
  return worst;
}

function maxRel(a: readonly number[], b: readonly number[]): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, b[i] === 0 ? Math.abs(a[i]!) : Math.abs(a[i]! - b[i]!) / Math.abs(b[i]!));
  }
  return a.length === b.length ? worst : Infinity;
}

for (const c of cases) {
  const fx = JSON.parse(readFileSync(path.join(dir, `${c.file}.json`), 'utf8')) as Fixture;
  const st = readSafetensors(path.join(dir, `${c.file}.safetensors`));

  t.test(`${c.name}: schedule matches ${c.file}`, async (t) => {
    const cfg = fx.resolved_config;
    t.equal(cfg.beta_schedule, 'scaled_linear');
    t.equal(cfg.prediction_type, 'epsilon');
    const s = c.make();
    t.same(s.alphasCumprod, Array.from(st.get('alphas_cumprod')!.data), 'alphas_cumprod bit-exact');
    t.same(makeBetas('scaled_linear', 0.00085, 0.012, 1000), Array.from(st.get('betas')!.data), 'betas bit-exact');
    for (const n of ['20', '50']) {
      const ref = fx.schedules[n]!;
      s.setTimesteps(Number(n));
      t.same(s.timesteps, ref.timesteps, `${n} timesteps exact`);
      t.same(s.timesteps, Array.from(st.get(`steps${n}.timesteps`)!.data), `${n} timesteps (safetensors)`);
      t.ok(Math.abs(s.initNoiseSigma - ref.init_noise_sigma) <= 1e-6 * ref.init_noise_sigma, `${n} initNoiseSigma ${s.initNoiseSigma}`);
      if (ref.sigmas) {
        const rel = maxRel(s.sigmas!, ref.sigmas);
        t.ok(rel <= 1e-6, `${n} sigmas within 1e-6 relative (${rel})`);
      }
      if (ref.alphas_cumprod_at_timesteps) {
        const a = s.timesteps.map((ts) => s.alphasCumprod[ts]!);
        t.ok(maxRel(a, ref.alphas_cumprod_at_timesteps) <= 1e-6, `${n} alphas_cumprod at timesteps`);
        t.equal((s as DDIMScheduler).finalAlphaCumprod, ref.final_alpha_cumprod, 'final alpha_cumprod');
      }
    }
  });

  for (const device of testDevices('unary', 'binary')) {
    t.test(`${c.name}: 20-step trajectory on ${device}`, async (t) => {
      const opts = { device: device as 'cpu' };
      const s = createScheduler(c.name, { steps: 20 });
      t.equal(s.name, c.name);
      const noise = st.get('trajectory.initial_noise')!;
      const per = noise.data.length;
      const refSamples = st.get('trajectory.samples')!.data;
      const refInputs = st.get('trajectory.model_inputs')!.data;
      const refOutputs = st.get('trajectory.model_outputs')!.data;
      const refPred = st.get('trajectory.pred_original_samples')?.data;
      const init = Float32Array.from(noise.data, (v) => Math.fround(v * s.initNoiseSigma));
      t.ok(excess(init, st.get('trajectory.initial_sample')!.data, 0, 1e-6) <= 0, 'initial sample');
      let x = tensor(init, noise.shape, opts);
      let worst = { sample: -Infinity, input: -Infinity, output: -Infinity, pred: -Infinity };
      let maxAbs = 0;
      for (let i = 0; i < s.timesteps.length; i++) {
        const ts = s.timesteps[i]!;
        const xIn = s.scaleModelInput(x, i);
        const inData = xIn.toFloat32();
        // eps = fp32(0.1·x_in) + fp32(0.01·t/1000), as the fixture recipe.
        const shift = Math.fround(0.01 * (ts / 1000)), k = Math.fround(0.1);
        const eps = Float32Array.from(inData, (v) => Math.fround(Math.fround(v * k) + shift));
        const epsT = tensor(eps, noise.shape, opts);
        const { prevSample, predOriginalSample } = s.stepWithPrediction(epsT, i, x);
        const ref = (a: Float32Array) => a.subarray(i * per, (i + 1) * per);
        const got = prevSample.toFloat32(), want = ref(refSamples);
        for (let j = 0; j < per; j++) maxAbs = Math.max(maxAbs, Math.abs(got[j]! - want[j]!));
        worst = {
          sample: Math.max(worst.sample, excess(got, want, 1e-4, 1e-5)),
          input: Math.max(worst.input, excess(inData, ref(refInputs), 1e-4, 1e-5)),
          output: Math.max(worst.output, excess(eps, ref(refOutputs), 1e-4, 1e-5)),
          pred: refPred ? Math.max(worst.pred, excess(predOriginalSample.toFloat32(), ref(refPred), 1e-4, 1e-5)) : worst.pred,
        };
        for (const u of [x, xIn, epsT, predOriginalSample]) u.dispose();
        x = prevSample;
      }
      t.ok(worst.sample <= 0, `samples within atol 1e-4 + rtol 1e-5 (max abs diff ${maxAbs})`);
      t.ok(worst.input <= 0, `model inputs (excess ${worst.input})`);
      t.ok(worst.output <= 0, `model outputs (excess ${worst.output})`);
      if (refPred) t.ok(worst.pred <= 0, `pred_original_samples (excess ${worst.pred})`);
      x.dispose();
      s.reset();
    });
  }
}

t.test('the same trajectory twice, with reset, restart at 0 and inside tidy', async (t) => {
  for (const name of schedulerNames) {
    const s = createScheduler(name, { steps: 6 });
    const run = (): Float32Array => {
      let x = tensor(Array.from({ length: 8 }, (_, i) => i - 3.5), [2, 4]);
      for (let i = 0; i < s.timesteps.length; i++) {
        const next = tidy(() => {
          const xin = s.scaleModelInput(x, i);
          return s.step(xin, i, x);  // eps = the model input (a stand-in model)
        });
        x.dispose();
        x = next;
      }
      const out = x.toFloat32();
      x.dispose();
      return out;
    };
    const first = run();
    t.ok(first.every(Number.isFinite), `${name}: finite`);
    t.same(run(), first, `${name}: step 0 restarts the history`);
    s.reset();
    t.same(run(), first, `${name}: after reset`);
    s.setTimesteps(6);
    t.same(run(), first, `${name}: after setTimesteps`);
  }
});

t.test('meta tensors: shapes only, no data read', async (t) => {
  for (const name of schedulerNames) {
    const s = createScheduler(name, { steps: 3 });
    let x = zeros([1, 4, 8, 8], { device: 'meta' });
    for (let i = 0; i < 3; i++) {
      const xin = s.scaleModelInput(x, i);
      const y = s.step(xin, i, x);
      t.equal(y.device, 'meta');
      t.same(y.shape, [1, 4, 8, 8]);
      x = y;
    }
  }
});

t.test('other spacings and configs', async (t) => {
  t.same(new DDIMScheduler({ timestepSpacing: 'trailing' }).timesteps, [], 'empty before setTimesteps');
  const trailing = new DDIMScheduler({ timestepSpacing: 'trailing' });
  trailing.setTimesteps(4);
  t.same(trailing.timesteps, [999, 749, 499, 249]);
  const lin = new DDIMScheduler({ timestepSpacing: 'linspace' });
  lin.setTimesteps(4);
  t.same(lin.timesteps, [999, 666, 333, 0]);
  const dpmLeading = new DPMSolverMultistepScheduler({ timestepSpacing: 'leading' });
  dpmLeading.setTimesteps(4);
  t.same(dpmLeading.timesteps, [801, 601, 401, 201]);
  const uniTrailing = new UniPCMultistepScheduler({ timestepSpacing: 'trailing' });
  uniTrailing.setTimesteps(3);
  t.same(uniTrailing.timesteps, [999, 666, 332]);
  const eulerLeading = new EulerDiscreteScheduler({ timestepSpacing: 'leading' });
  t.ok(Math.abs(eulerLeading.initNoiseSigma - 14.6488) < 1e-3, 'leading: √(σmax² + 1) before setTimesteps');
  eulerLeading.setTimesteps(4);
  t.same(eulerLeading.timesteps, [751, 501, 251, 1]);
  const sigmaMin = new EulerDiscreteScheduler({ finalSigmasType: 'sigma_min' });
  sigmaMin.setTimesteps(2);
  t.ok(sigmaMin.sigmas[2]! > 0.029 && sigmaMin.sigmas[2]! < 0.03, 'sigma_min final sigma');
  const one = new DDIMScheduler({ setAlphaToOne: true, betaSchedule: 'linear', betaStart: 0.0001, betaEnd: 0.02 });
  t.equal(one.finalAlphaCumprod, 1);
  t.ok(Math.abs(one.alphasCumprod[0]! - 0.9999) < 1e-7, 'linear betas');
  // First-order / bh1 / no lower-order-final variants run and agree with each other on a 1-step schedule.
  const x = tensor([1, -2, 3, 0.5], [1, 4]);
  for (const s of [
    new DPMSolverMultistepScheduler({ solverOrder: 1 }), new DPMSolverMultistepScheduler({ lowerOrderFinal: false, finalSigmasType: 'sigma_min' }),
    new UniPCMultistepScheduler({ solverOrder: 1 }), new UniPCMultistepScheduler({ solverType: 'bh1', lowerOrderFinal: false }),
  ]) {
    s.setTimesteps(5);
    let y = x.clone();
    for (let i = 0; i < 5; i++) {
      const next = s.step(y, i, y);
      y.dispose();
      y = next;
    }
    t.ok(y.toFloat32().every(Number.isFinite), `${s.name} variant finite`);
  }
});

t.test('bad input', async (t) => {
  t.throws(() => createScheduler('pndm' as SchedulerName, { steps: 20 }), { ...code('ARG'), message: /pndm/ });
  t.throws(() => createScheduler('ddim', null as never), code('ARG'));
  for (const name of schedulerNames) {
    t.throws(() => createScheduler(name, { steps: 0 }), { ...code('ARG'), message: /got 0/ });
    t.throws(() => createScheduler(name, { steps: 1001 }), { ...code('ARG'), message: /1001/ });
    t.throws(() => createScheduler(name, { steps: 2.5 }), code('ARG'));
    const fresh = createScheduler(name, { steps: 1 });
    t.equal(fresh.timesteps.length, 1);
    const s = createScheduler(name, { steps: 4 });
    const a = zeros([1, 4, 2, 2]), b = zeros([1, 4, 2, 3]);
    t.throws(() => s.step(a, 4, a), { ...code('ARG'), message: /got 4/ });
    t.throws(() => s.step(a, -1, a), code('ARG'));
    t.throws(() => s.scaleModelInput(a, 9), { ...code('ARG'), message: /9/ });
    t.throws(() => s.scaleModelInput(null as never, 0), code('ARG'));
    t.throws(() => s.step(a, 0, b), { ...code('SHAPE'), message: /\[1, 4, 2, 3\]/ });
    t.throws(() => s.step(null as never, 0, a), code('ARG'));
    t.throws(() => s.step(a, 0, 'x' as never), code('ARG'));
  }
  const unset = new DDIMScheduler();
  t.throws(() => unset.step(zeros([1]), 0, zeros([1])), { ...code('ARG'), message: /setTimesteps/ });
  for (const make of [() => new DPMSolverMultistepScheduler(), () => new UniPCMultistepScheduler()]) {
    const s = make();
    s.setTimesteps(5);
    const a = zeros([1, 4]);
    s.step(a, 0, a).dispose();
    t.throws(() => s.step(a, 2, a), { ...code('ARG'), message: /out of order/ });
    t.throws(() => s.step(zeros([2, 4]), 1, zeros([2, 4])), { ...code('SHAPE'), message: /reset/ });
    s.reset();
    s.step(a, 3, a).dispose();  // a fresh history may start anywhere (img2img)
  }
  t.throws(() => new DDIMScheduler({ numTrainTimesteps: 1 }), code('ARG'));
  t.throws(() => new DDIMScheduler({ betaStart: 0 }), code('ARG'));
  t.throws(() => new DDIMScheduler({ stepsOffset: -1 }), code('ARG'));
  t.throws(() => new DDIMScheduler({ betaSchedule: 'cosine' as never }), { ...code('ARG'), message: /cosine/ });
  t.throws(() => new DDIMScheduler('x' as never), code('ARG'));
  t.throws(() => new DDIMScheduler({ timestepSpacing: 'even' as never }).setTimesteps(3), { ...code('ARG'), message: /even/ });
  t.throws(() => new EulerDiscreteScheduler({ finalSigmasType: 'one' as never }).setTimesteps(3), code('ARG'));
  t.throws(() => new DPMSolverMultistepScheduler({ solverOrder: 3 as never }), { ...code('ARG'), message: /3/ });
  t.throws(() => new UniPCMultistepScheduler({ solverOrder: 3 as never }), code('ARG'));
  t.throws(() => new UniPCMultistepScheduler({ solverType: 'bh3' as never }), { ...code('ARG'), message: /bh3/ });
});
