// denoise({ graphs: true }) on the CUDA devices of this build: the toy SD1.5-architecture UNet + ControlNet (random
// control image, 8×8 latents, CFG) gives bit-identical latents with and without graphs, for the reference step
// (ControlNet + UNet + guidance in one graph), under DeepCache (a full-step graph that stores h_b and the probe,
// a shallow cached-step graph fed with the cached h_b), under a policy mixing reused ControlNet residuals and
// extrapolated h_b, under per-step cache depths and under HGC's defaults; every graph and private pool is released at the end of
// the generation and when it is cancelled. cpu ignores the option.
import t from 'tap';

import { type StepGraphStats, type Tensor, cache, countMacs, denoise, full, loadSafetensors, memory, models, randn } from '../dist/src/index.js';
import { readJson } from './helpers/golden';
import { testDevices } from './helpers/reference';
import { toyPath } from './helpers/toy';

const devices = testDevices('gemm', 'conv2d', 'attention', 'group_norm').filter((d) => d === 'cuda' || d === 'cuda-sim');

function load<M extends { loadStateDict(m: Map<string, Tensor>, o: { device: string }): unknown }>(model: M, dir: string, device: string): M {
  const w = loadSafetensors(toyPath(dir, 'diffusion_pytorch_model.safetensors'));
  model.loadStateDict(w, { device });
  for (const x of w.values()) x.dispose();
  return model;
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

for (const device of devices) {
  t.test(`${device}: graphed denoising equals eager denoising`, async (t) => {
    const unet = load(new models.UNet2DConditionModel(readJson(toyPath('unet', 'config.json'))), 'unet', device);
    const controlnet = load(new models.ControlNetModel(readJson(toyPath('controlnet', 'config.json'))), 'controlnet', device);
    const cond = randn([1, 77, 32], { seed: 1, device }), uncond = randn([1, 77, 32], { seed: 2, device });
    const image = full([1, 3, 64, 64], 0.25, { device });
    const base = memory().pools[device]!;
    const run = (steps: number, graphs: boolean, policy?: cache.CachePolicy, signal?: AbortSignal, onStep?: (i: number) => void,
      graphOpts?: { warmup: number }) => {
      let stats: StepGraphStats | undefined;
      const x = denoise({
        unet, controls: [{ model: controlnet, image }], cond, uncond, steps, height: 8, width: 8, seed: 7,
        graphs: graphs && (graphOpts ?? true), policy, signal,
        onGraphStats: (s) => { stats = s; }, onStep: (info) => onStep?.(info.step),
      });
      const data = x.toFloat32();
      x.dispose();
      return { data, stats };
    };

    const eager = run(3, false);
    const graphed = run(3, true);
    t.ok(same(graphed.data, eager.data), 'reference steps: bit-identical latents');
    t.same(graphed.stats && [graphed.stats.eager, graphed.stats.captures, graphed.stats.replays], [1, 1, 2],
      'step 0 warms up, step 1 captures, step 2 replays with new inputs');
    t.same(graphed.stats?.failures, []);

    const eagerDc = run(5, false, cache.deepCache({ interval: 2 }));
    const graphedDc = run(5, true, cache.deepCache({ interval: 2 }));
    t.ok(same(graphedDc.data, eagerDc.data), 'DeepCache (full and shallow cached steps): bit-identical latents');
    t.same(graphedDc.stats && [graphedDc.stats.captures, graphedDc.stats.graphs], [2, 2], 'one graph per plan: full and shallow');
    t.equal(graphedDc.stats?.replays, 3, 'the full graph replays at step 4');

    // Four different graphed plans, captured at first sight (warmup 0): full steps that run or reuse the ControlNet
    // and store h_b, shallow steps that reuse or run it; reuse 'linear' extrapolates h_b (a graph input) at step 3.
    const mixed = (): cache.CachePolicy => ({
      name: 'mixed',
      plan: (ctx) => {
        const full = ctx.index % 2 === 0, runCn = ctx.index === 0 || ctx.index === 3;
        return {
          cfg: ctx.cfg, block: full ? { kind: 'full' } : { kind: 'shallow', branch: 1 }, storeBranch: full ? 1 : undefined,
          storeResiduals: runCn, controlnet: runCn ? 'run' : 'reuse', crossAttention: 'compute', reuse: 'linear',
        };
      },
    });
    const eagerMixed = run(4, false, mixed());
    const graphedMixed = run(4, true, mixed(), undefined, undefined, { warmup: 0 });
    t.ok(same(graphedMixed.data, eagerMixed.data), 'ControlNet reused in full and shallow steps, extrapolated h_b: bit-identical latents');
    t.same(graphedMixed.stats && [graphedMixed.stats.captures, graphedMixed.stats.eager], [4, 0], 'one graph per plan');

    // Per-step cache depth (HGC's default shape): full steps keep h_0 (with the probe) and h_1 (storeBranches), and
    // cached steps cut at branch 0 or 1, each reading its own kept feature.
    const depth = (): cache.CachePolicy => ({
      name: 'depth',
      plan: (ctx) => {
        const full = ctx.index === 0 || ctx.index === 3, b = ctx.index === 1 ? 0 : 1;
        return {
          cfg: ctx.cfg, block: full ? { kind: 'full' } : { kind: 'shallow', branch: b }, storeBranch: full ? 0 : undefined,
          storeBranches: full ? [1] : undefined, storeResiduals: true, controlnet: 'run', crossAttention: 'compute', reuse: 'hold',
        };
      },
    });
    const eagerDepth = run(5, false, depth());
    const graphedDepth = run(5, true, depth(), undefined, undefined, { warmup: 0 });
    t.ok(same(graphedDepth.data, eagerDepth.data), 'full steps keeping two depths, cached steps at either: bit-identical latents');
    t.same(graphedDepth.stats && [graphedDepth.stats.captures, graphedDepth.stats.eager], [3, 0], 'graphs: full, shallow at 0, shallow at 1');
    const eagerHgc = run(5, false, cache.hgc());
    const graphedHgc = run(5, true, cache.hgc());
    t.ok(same(graphedHgc.data, eagerHgc.data), 'HGC defaults: bit-identical latents');

    // Counting MACs (countMacs around the call) keeps every step eager: a replay would count nothing.
    let counted: StepGraphStats | undefined;
    const countedRun = countMacs(() => denoise({
      unet, controls: [{ model: controlnet, image }], cond, uncond, steps: 3, height: 8, width: 8, seed: 7,
      graphs: { warmup: 0 }, onGraphStats: (s) => { counted = s; },
    }));
    const countedEager = countMacs(() => denoise({ unet, controls: [{ model: controlnet, image }], cond, uncond, steps: 3, height: 8, width: 8, seed: 7 }));
    t.equal(counted, undefined, 'no graphs while MACs are counted');
    t.equal(countedRun.counter.total(), countedEager.counter.total(), 'the same MACs as the eager run');
    countedRun.result.dispose();
    countedEager.result.dispose();

    // A cache budget may evict entries a graph would read: policy steps then stay eager (same result).
    let budgeted: StepGraphStats | undefined;
    const bx = denoise({
      unet, controls: [{ model: controlnet, image }], cond, uncond, steps: 2, height: 8, width: 8, seed: 7,
      policy: cache.deepCache({ interval: 2 }), cacheBudgetBytes: 1e9, graphs: { warmup: 0 }, onGraphStats: (s) => { budgeted = s; },
    });
    t.same(budgeted && [budgeted.captures, budgeted.replays, budgeted.eager], [0, 0, 0], 'with a budget no policy step is graphed');
    bx.dispose();

    let m = memory().pools[device]!;
    t.equal(m.graphPools, base.graphPools, 'graphs and pools released at the end of each generation');
    t.equal(m.bytesInGraphPools, base.bytesInGraphPools);

    const ctrl = new AbortController();
    let statsAtCancel: StepGraphStats | undefined;
    t.throws(() => denoise({
      unet, controls: [{ model: controlnet, image }], cond, uncond, steps: 4, height: 8, width: 8, graphs: true, signal: ctrl.signal,
      onGraphStats: (s) => { statsAtCancel = s; },
      onStep: (info) => {
        if (info.step === 1) {
          t.equal(memory().pools[device]!.graphPools, base.graphPools + 1, 'a graph is live during the generation');
          ctrl.abort();
        }
      },
    }), { name: 'HgcError', code: 'ARG' });
    t.equal(statsAtCancel?.captures, 1);
    m = memory().pools[device]!;
    t.equal(m.graphPools, base.graphPools, 'cancelled: graphs and pools released');
    t.equal(m.bytesInGraphPools, base.bytesInGraphPools);
    for (const x of [cond, uncond, image]) x.dispose();
  });
}

t.test('cpu: the graphs option runs eagerly', async (t) => {
  const unet = load(new models.UNet2DConditionModel(readJson(toyPath('unet', 'config.json'))), 'unet', 'cpu');
  const cond = randn([1, 77, 32], { seed: 1 }), uncond = randn([1, 77, 32], { seed: 2 });
  const a = denoise({ unet, cond, uncond, steps: 2, height: 8, width: 8 });
  let stats: StepGraphStats | undefined;
  const b = denoise({ unet, cond, uncond, steps: 2, height: 8, width: 8, graphs: true, onGraphStats: (s) => { stats = s; } });
  t.ok(same(a.toFloat32(), b.toFloat32()));
  t.equal(stats, undefined, 'no graphs were made on cpu');
  for (const x of [a, b, cond, uncond]) x.dispose();
});
