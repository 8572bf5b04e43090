/**
 * Controllable text-to-image denoising: classifier-free guidance over [unconditional, conditional] text
 * embeddings, one or several ControlNets, any scheduler, per-step progress, cancellation. Returns latents.
 */
import { randn } from '../creation.js';
import { HgcError, check, shapeStr } from '../errors.js';
import type { ControlNetModel } from '../models/controlnet.js';
import type { UNet2DConditionModel } from '../models/unet.js';
import * as ops from '../ops/index.js';
import { type MacCounter } from '../profile/macs.js';
import { type CreateSchedulerOptions, createScheduler } from '../schedulers/factory.js';
import type { Scheduler, SchedulerName } from '../schedulers/types.js';
import { keep, tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { prepareControl } from './control-image.js';

/** One ControlNet with its control image and strength. */
export interface ControlInput {
  model: ControlNetModel;
  /** [1, 3, H, W] or [3, H, W] in [0, 1]; resized to 8× the latent size. */
  image: Tensor;
  /** Residual scale (default 1). */
  scale?: number;
  guessMode?: boolean;
}

/** What the per-step callback receives. */
export interface StepInfo {
  /** 0-based step index. */
  step: number;
  steps: number;
  timestep: number;
  /** The latents after this step (owned by the pipeline: copy them to keep them). */
  latents: Tensor;
}

/** Options of {@link denoise}. */
export interface DenoiseOptions {
  unet: UNet2DConditionModel;
  /** Zero, one or several ControlNets; their residuals are summed. */
  controls?: ControlInput[];
  /** Conditional text embedding [1, 77, C]. */
  cond: Tensor;
  /** Unconditional (negative prompt) embedding [1, 77, C]; required when guidance ≠ 1. */
  uncond?: Tensor;
  /** Default 20. */
  steps?: number;
  /** CFG scale (default 7.5); 1 disables CFG (batch 1, cond only). */
  guidance?: number;
  /** A scheduler name (default 'unipc') or an instance (reset and set to `steps` here). */
  scheduler?: SchedulerName | Scheduler;
  /** Extra scheduler config when a name is given (e.g. finalSigmasType). */
  schedulerConfig?: Partial<CreateSchedulerOptions>;
  /** Initial latents [1, 4, h, w] (before initNoiseSigma), or a seed for Philox noise. */
  latents?: Tensor;
  seed?: number;
  /** Latent size when no latents are given (default 64×64, i.e. 512×512 pixels). */
  height?: number;
  width?: number;
  onStep?: (info: StepInfo) => void;
  signal?: AbortSignal;
  /** If given, its tags are set to { step, phase } while each step runs (for per-step MAC reports). */
  macCounter?: MacCounter;
}

/** Runs the denoising loop and returns the final latents [1, 4, h, w] (owned by the caller). */
export function denoise(opts: DenoiseOptions): Tensor {
  const { unet } = opts;
  const steps = opts.steps ?? 20;
  const guidance = opts.guidance ?? 7.5;
  check(Number.isInteger(steps) && steps >= 1, 'ARG', () => `steps must be a positive integer, got ${steps}`);
  check(Number.isFinite(guidance), 'ARG', () => `guidance must be finite, got ${guidance}`);
  const cfg = guidance !== 1;
  check(!cfg || opts.uncond !== undefined, 'ARG', 'guidance ≠ 1 needs an unconditional embedding (uncond)');
  const textShape = [1, 77, unet.config.crossAttentionDim];
  for (const [name, t] of [['cond', opts.cond], ['uncond', opts.uncond]] as const) {
    if (t) check(t.rank === 3 && t.shape[0] === 1 && t.shape[2] === unet.config.crossAttentionDim, 'SHAPE',
      () => `${name} must be [1, tokens, ${unet.config.crossAttentionDim}], got ${shapeStr(t.shape)} (expected like ${shapeStr(textShape)})`);
  }
  const device = opts.cond.device;
  let x = opts.latents
    ? opts.latents.clone()
    : randn([1, unet.config.inChannels, opts.height ?? 64, opts.width ?? 64], { seed: opts.seed ?? 0, device });
  check(x.rank === 4 && x.shape[0] === 1 && x.shape[1] === unet.config.inChannels, 'SHAPE',
    () => `latents must be [1, ${unet.config.inChannels}, h, w], got ${shapeStr(x.shape)}`);
  const [, , h, w] = x.shape as [number, number, number, number];
  const scheduler = typeof opts.scheduler === 'object'
    ? opts.scheduler
    : createScheduler(opts.scheduler ?? 'unipc', { ...(opts.schedulerConfig ?? {}), steps } as CreateSchedulerOptions);
  if (typeof opts.scheduler === 'object') scheduler.setTimesteps(steps);

  // Per-generation exact caches: the batched text context and each ControlNet's conditioning embedding.
  const owned: Tensor[] = [];
  const context = cfg ? ops.concat([opts.uncond!, opts.cond], 0) : opts.cond.clone();
  owned.push(context);
  const controls = (opts.controls ?? []).map((c) => {
    const f = 2 ** (c.model.config.conditioningEmbeddingOutChannels.length - 1);
    const img = prepareControl(c.image, h * f, w * f);
    const batched = cfg ? ops.concat([img, img], 0) : img;
    const emb = c.model.embedCondition(batched);
    img.dispose();
    if (batched !== img) batched.dispose();
    owned.push(emb);
    return { ...c, emb };
  });

  try {
    const init = ops.scale(x, scheduler.initNoiseSigma);
    x.dispose();
    x = init;
    for (let i = 0; i < steps; i++) {
      if (opts.signal?.aborted) throw new HgcError('ARG', `generation cancelled at step ${i} of ${steps}`);
      const t = scheduler.timesteps[i]!;
      if (opts.macCounter) opts.macCounter.tags = { step: i, phase: cfg ? 'cfg' : 'cond' };
      const next = tidy(() => {
        const xin = scheduler.scaleModelInput(x, i);
        const xb = cfg ? ops.concat([xin, xin], 0) : xin;
        let down: Tensor[] | undefined;
        let mid: Tensor | undefined;
        for (const c of controls) {
          const r = c.model.forward(xb, t, context, null, { conditioningScale: c.scale ?? 1, guessMode: c.guessMode, condEmbedding: c.emb });
          if (!down) {
            down = r.down;
            mid = r.mid;
          } else {
            down = down.map((d, k) => ops.add(d, r.down[k]!));
            mid = ops.add(mid!, r.mid);
          }
        }
        const eps = unet.forward(xb, t, context, { downResiduals: down, midResidual: mid });
        let guided = eps;
        if (cfg) {
          const [eu, ec] = ops.split(eps, [1, 1], 0) as [Tensor, Tensor];
          guided = ops.add(eu, ops.scale(ops.sub(ec, eu), guidance));  // eps_u + w·(eps_c − eps_u)
        }
        return keep(scheduler.step(guided, i, x));
      });
      x.dispose();
      x = next;
      opts.onStep?.({ step: i, steps, timestep: t, latents: x });
    }
    return x;
  } catch (e) {
    x.dispose();
    throw e;
  } finally {
    for (const t of owned) t.dispose();
    scheduler.reset();
  }
}
