/**
 * The step section of `npm run bench:gpu`: one SD1.5 + ControlNet denoising step at 512×512 with classifier-free
 * guidance (batch 2), f16 random weights and activations — the ControlNet, the UNet with its residuals and the
 * guidance, as the pipeline's reference step runs them — eager (one launch per kernel from TypeScript) and
 * graphed (src/graph: the step captured once into a CUDA graph and replayed). Rows: ms per step, steps/s and % of
 * the issue's target (36 steps/s on an H100, PyTorch eager + diffusers' speed). Each step also computes its time
 * embeddings (the graph's inputs) and returns the guided noise prediction. `--small` runs a tiny model on the
 * simulator (plumbing only) and checks that the graphed step gives the eager step's bits.
 */
import { performance } from 'node:perf_hooks';

import { type Tensor, StepGraphs, models, ops, randn, tensor, tidy } from '../src/index.js';
import type { GpuContext, GpuSection } from './gpu-section.js';

const TARGET_STEPS_PER_S = 36;
const GUIDANCE = 7.5;

/** A tiny SD1.5-shaped model for --small (two levels, one resnet per block). */
const SMALL = {
  block_out_channels: [32, 64], layers_per_block: 1, cross_attention_dim: 32, attention_head_dim: 2, norm_num_groups: 8,
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  conditioning_embedding_out_channels: [8, 16, 16, 32],
};

/** One row of the section's table and of --json. */
export interface StepRow {
  section: 'step';
  mode: 'eager' | 'graphed';
  /** "UNet + ControlNet, 2×4×64×64, f16". */
  model: string;
  runs: number;
  ms: number;
  stepsPerS: number;
  /** 100 · stepsPerS / 36. */
  targetPct: number;
  /** Graphed rows: graphs captured and the private pool's bytes. */
  graphs?: number;
  poolBytes?: number;
  /** Graphed rows: whether the replayed step gave the eager step's bits. */
  sameAsEager?: boolean;
}

function buildModels(ctx: GpuContext) {
  const unetCfg = ctx.small ? { ...models.SD15_UNET_CONFIG, ...SMALL } : models.SD15_UNET_CONFIG;
  const cnCfg = ctx.small ? { ...models.SD15_CONTROLNET_CONFIG, ...SMALL } : models.SD15_CONTROLNET_CONFIG;
  const init = { dtype: 'f16' as const, device: ctx.device };
  return {
    unet: new models.UNet2DConditionModel(unetCfg).initRandom({ ...init, seed: 1 }),
    controlnet: new models.ControlNetModel(cnCfg).initRandom({ ...init, seed: 2 }),
    text: unetCfg.cross_attention_dim,
  };
}

export const stepSection: GpuSection = {
  name: 'step',
  run(ctx) {
    const latent = ctx.small ? 8 : 64;
    const { unet, controlnet, text } = buildModels(ctx);
    const opts = { device: ctx.device, dtype: 'f16' as const };
    const x = randn([1, 4, latent, latent], { ...opts, seed: 3 });
    const context = randn([2, 77, text], { ...opts, seed: 4 });
    const image = randn([2, 3, 8 * latent, 8 * latent], { ...opts, seed: 5 });
    const emb = controlnet.embedCondition(image);  // depends only on the control image: once per generation
    const syncer = tensor([0], [1], { device: ctx.device });
    const graphs = new StepGraphs(ctx.device);
    const model = `UNet + ControlNet, 2×4×${latent}×${latent}, f16`;
    ctx.info(`step (${model}, CFG): ms per step, steps/s, % of the ${TARGET_STEPS_PER_S} steps/s target`);
    const body = (xin: Tensor, t: number, tembs: readonly Tensor[]): Tensor => {
      const xb = ops.concat([xin, xin], 0);
      const r = controlnet.forward(xb, t, context, null, { condEmbedding: emb, temb: tembs[1] });
      const eps = unet.forward(xb, t, context, { downResiduals: r.down, midResidual: r.mid, temb: tembs[0] });
      const [eu, ec] = ops.split(eps, [1, 1], 0) as [Tensor, Tensor];
      return ops.add(eu, ops.scale(ops.sub(ec, eu), GUIDANCE));
    };
    const step = (graphed: boolean, t: number): Tensor => tidy(() => {
      const tembs = [unet.timeEmbedding(t, 2, ctx.device), controlnet.timeEmbedding(t, 2, ctx.device)];
      if (!graphed) return body(x, t, tembs);
      return graphs.run('step', [x, ...tembs], ([xin, ...te]) => [body(xin!, t, te)])[0]!;
    });
    try {
      const runs = ctx.small ? 2 : 20;
      const time = (graphed: boolean): number => {
        const sample = (): number => {
          const t0 = performance.now();
          for (let i = 0; i < runs; i++) step(graphed, 999 - i).dispose();
          syncer.toFloat32();  // a device → host copy waits for every launch before it
          return (performance.now() - t0) / runs;
        };
        sample();  // warm-up (allocator; graphed: the eager warm-up and the capture)
        const samples = Array.from({ length: ctx.small ? 1 : 5 }, sample).sort((p, q) => p - q);
        return samples[samples.length >> 1]!;
      };
      const row = (mode: StepRow['mode'], ms: number): StepRow => ({
        section: 'step', mode, model, runs, ms, stepsPerS: 1000 / ms, targetPct: (100 * 1000) / ms / TARGET_STEPS_PER_S,
      });
      const eager = row('eager', time(false));
      const graphed = row('graphed', time(true));
      const a = step(false, 500), b = step(true, 500);
      const ya = a.toFloat32(), yb = b.toFloat32();
      a.dispose();
      b.dispose();
      const s = graphs.stats();
      Object.assign(graphed, { graphs: s.graphs, poolBytes: s.poolBytes, sameAsEager: ya.length === yb.length && ya.every((v, i) => Object.is(v, yb[i])) });
      if (s.failures.length) ctx.info(`graph capture failed, the graphed row ran eagerly: ${s.failures[0]!.reason}`);
      const rows = [eager, graphed];
      if (!ctx.json) {
        ctx.info('| mode | ms/step | steps/s | % of 36 steps/s | graphs | pool MB | same bits as eager |');
        ctx.info('|---|---:|---:|---:|---:|---:|---|');
        for (const r of rows) {
          ctx.info(`| ${r.mode} | ${r.ms.toFixed(2)} | ${r.stepsPerS.toFixed(1)} | ${r.targetPct.toFixed(1)}% | ${r.graphs ?? '-'} | ` +
            `${r.poolBytes === undefined ? '-' : (r.poolBytes / 2 ** 20).toFixed(1)} | ${r.sameAsEager ?? '-'} |`);
        }
        ctx.info('');
      }
      return rows;
    } finally {
      graphs.dispose();
      for (const t of [x, context, image, emb, syncer]) t.dispose();
      unet.dispose();
      controlnet.dispose();
    }
  },
};
