/**
 * Controllable text-to-image denoising: classifier-free guidance over [unconditional, conditional] text
 * embeddings, one or several ControlNets, any scheduler, per-step progress, cancellation. Returns latents.
 */
import { randn } from '../creation.js';
import type { DType } from '../dtype.js';
import { HgcError, check, shapeStr } from '../errors.js';
import type { ControlNetModel } from '../models/controlnet.js';
import type { UNet2DConditionModel } from '../models/unet.js';
import * as ops from '../ops/index.js';
import { CachedGeneration, type PreparedControl } from '../cache/generation.js';
import type { CachePolicy, StepObservation, StepPlan } from '../cache/policy.js';
import { alphaCumprodAt } from '../cache/reuse-axis.js';
import { type CachePoolStats, CacheStore } from '../cache/store.js';
import { type MacCounter, countingMacs } from '../profile/macs.js';
import { type CreateSchedulerOptions, createScheduler } from '../schedulers/factory.js';
import type { Scheduler, SchedulerName } from '../schedulers/types.js';
import { guide } from '../cache/batch.js';
import { graphsSupported } from '../graph/cuda-graph.js';
import { StepGraphs, type StepGraphStats, type StepGraphsOptions } from '../graph/step-graphs.js';
import { keep, tidy } from '../scope.js';
import type { Device, Tensor } from '../tensor.js';
import { prepareControl } from './control-image.js';

/** One ControlNet with its control image and strength. */
export interface ControlInput {
  /** The ControlNet that reads the control image. */
  model: ControlNetModel;
  /** [1, 3, H, W] or [3, H, W] in [0, 1], or a PNG file path; resized to 8× the latent size. */
  image: Tensor | string;
  /** Residual scale (default 1). */
  scale?: number;
  /** Guess mode: residuals scaled by logspace(−1, 0) from shallow to deep (default false). */
  guessMode?: boolean;
}

/** What the per-step callback receives. */
export interface StepInfo {
  /** 0-based step index. */
  step: number;
  /** Total number of steps. */
  steps: number;
  /** The scheduler's timestep of this step (a training timestep: in [0, 1000) for SD1.5). */
  timestep: number;
  /** The latents after this step (owned by the pipeline: copy them to keep them). */
  latents: Tensor;
  /**
   * The scheduler's estimate of the clean latents x₀ at this step (owned by the pipeline, valid during the
   * callback): what previews decode, since the latents themselves are still noisy until the last steps.
   */
  predicted: Tensor;
}

/** Options of {@link denoise}. */
export interface DenoiseOptions {
  /**
   * The UNet that predicts the noise (its config fixes the latent channels and the text width C). Its parameters'
   * device and dtype are the generation's: with f16/bf16 weights the models compute in that dtype (the text
   * embeddings and control images are converted, ControlNets must be loaded in the same dtype), while the latents
   * and the scheduler stay f32. Text embeddings, initial latents and control images (also PNG paths) on another
   * device are moved to the UNet's; the returned latents are on it.
   */
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
  /** Initial latents [1, 4, h, w] (before initNoiseSigma); by default Philox noise from `seed`. */
  latents?: Tensor;
  /** Seed of the Philox initial noise when no latents are given (default 0; same noise on every backend). */
  seed?: number;
  /** Latent height when no latents are given (default 64, i.e. 512 pixels). */
  height?: number;
  /** Latent width when no latents are given (default 64, i.e. 512 pixels). */
  width?: number;
  /** Called after every step with its index, timestep, latents and x₀ estimate (progress bars, previews). */
  onStep?: (info: StepInfo) => void;
  /** Checked before each step: once aborted, the loop stops with HgcError('ARG') naming the step. */
  signal?: AbortSignal;
  /** If given, its tags are set to { step, phase } while each step runs (for per-step MAC reports). */
  macCounter?: MacCounter;
  /**
   * A cache policy (src/cache). Without one nothing is cached at all; with one the exact caches (text K/V,
   * conditioning embedding) are on too, and the policy decides what each step reuses.
   */
  policy?: CachePolicy;
  /** Byte budget of the cache pool (default: unlimited). Over budget, steps compute instead of reusing. */
  cacheBudgetBytes?: number;
  /** Receives each step's plan and observation (for reports and tests). */
  onPlan?: (info: { step: number; plan: StepPlan; observation: StepObservation }) => void;
  /** Receives the cache pool's statistics at the end of the generation, before it is released. */
  onCacheStats?: (stats: CachePoolStats) => void;
  /**
   * CUDA graphs (docs/cuda-graphs.md; default false): on 'cuda' and 'cuda-sim', each distinct step (one per plan
   * signature and batch) is run eagerly once, then captured into a graph and replayed on later steps, so the
   * per-kernel launch gaps disappear. Steps that cannot be captured run eagerly, with the same result. At most
   * `maxGraphs` (default 8) graphs per generation, all released when it ends or is cancelled. Ignored on cpu and
   * meta, and when MACs are being counted — `macCounter` given, or a call inside `countMacs()` — since replays run
   * no TypeScript, so nothing would be counted.
   */
  graphs?: boolean | StepGraphsOptions;
  /** Receives the graphs' statistics at the end of the generation, before they are released (not called without graphs). */
  onGraphStats?: (stats: StepGraphStats) => void;
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
  // The generation runs where the UNet's parameters are (text embeddings and latents given elsewhere are moved).
  const device = unet.conv_in.weight.tensor?.device ?? opts.cond.device;
  check(opts.uncond === undefined || opts.uncond.device === opts.cond.device, 'DEVICE',
    () => `cond is on ${opts.cond.device} but uncond on ${opts.uncond!.device}`);
  let x = opts.latents
    ? (opts.latents.device === device ? opts.latents.clone() : opts.latents.to(device))
    : randn([1, unet.config.inChannels, opts.height ?? 64, opts.width ?? 64], { seed: opts.seed ?? 0, device });
  check(x.rank === 4 && x.shape[0] === 1 && x.shape[1] === unet.config.inChannels, 'SHAPE',
    () => `latents must be [1, ${unet.config.inChannels}, h, w], got ${shapeStr(x.shape)}`);
  const [, , h, w] = x.shape as [number, number, number, number];
  const scheduler = typeof opts.scheduler === 'object'
    ? opts.scheduler
    : createScheduler(opts.scheduler ?? 'unipc', { ...(opts.schedulerConfig ?? {}), steps } as CreateSchedulerOptions);
  if (typeof opts.scheduler === 'object') scheduler.setTimesteps(steps);

  const owned: Tensor[] = [];
  const store = opts.policy ? new CacheStore(opts.cacheBudgetBytes) : undefined;
  const graphs = opts.graphs && !opts.macCounter && !countingMacs() && graphsSupported(device)
    ? new StepGraphs(device, typeof opts.graphs === 'object' ? opts.graphs : {})
    : undefined;
  try {
    const dtype = modelDtype(opts);
    const ctrl = { h, w, cfg, owned, graphs, device, dtype };
    const modelStep = opts.policy
      ? policyStepper(opts, opts.policy, store!, steps, guidance, ctrl, scheduler.alphasCumprod)
      : referenceStepper(opts, guidance, ctrl);
    // Latents and the scheduler stay f32; the models see their own dtype.
    const step: Stepper = dtype === 'f32' ? modelStep : (i, t, xin) => {
      const eps = modelStep(i, t, xin.cast(dtype));
      return eps.cast('f32');
    };
    const init = ops.scale(x, scheduler.initNoiseSigma);
    x.dispose();
    x = init;
    for (let i = 0; i < steps; i++) {
      if (opts.signal?.aborted) throw new HgcError('ARG', `generation cancelled at step ${i} of ${steps}`);
      const t = scheduler.timesteps[i]!;
      const current = x;
      let predicted: Tensor | undefined;
      const next = tidy(() => {
        const r = scheduler.stepWithPrediction(step(i, t, scheduler.scaleModelInput(current, i)), i, current);
        predicted = keep(r.predOriginalSample);
        return keep(r.prevSample);
      });
      x.dispose();
      x = next;
      try {
        opts.onStep?.({ step: i, steps, timestep: t, latents: x, predicted: predicted! });
      } finally {
        predicted!.dispose();
      }
    }
    return x;
  } catch (e) {
    x.dispose();
    throw e;
  } finally {
    if (graphs) {  // first: the graphs read the per-generation tensors released below
      opts.onGraphStats?.(graphs.stats());
      graphs.dispose();
    }
    if (store) {
      opts.onCacheStats?.(store.stats());
      store.clear();
    }
    for (const t of owned) t.dispose();
    scheduler.reset();
  }
}

/** One step's guided noise prediction (batch 1) for model input xin; runs inside the loop's tidy scope. */
type Stepper = (i: number, t: number, xin: Tensor) => Tensor;

interface StepperSetup {
  h: number;
  w: number;
  cfg: boolean;
  /** Device and dtype of the models' parameters: control images and text contexts are brought to them. */
  device: Device;
  dtype: DType;
  /** Per-generation tensors, disposed by the loop. */
  owned: Tensor[];
  /** The generation's CUDA graphs, when enabled on a device that has them. */
  graphs?: StepGraphs;
}

/** The control image at 8× the latent size, batch 1, on the models' device and in their dtype (owned by the caller). */
function controlImage(c: ControlInput, s: StepperSetup): Tensor {
  return tidy(() => {
    let img = prepareControl(c.image, s.h * c.model.conditioningFactor, s.w * c.model.conditioningFactor);
    if (img.device !== s.device) img = img.to(s.device);
    return img.dtype === s.dtype ? img : img.cast(s.dtype);
  });
}

/** `t` on the models' device and in their dtype (a new tensor owned by the caller either way). */
function toModels(t: Tensor, s: StepperSetup): Tensor {
  return tidy(() => {
    const moved = t.device === s.device ? t.clone() : t.to(s.device);
    return moved.dtype === s.dtype ? moved : moved.cast(s.dtype);
  });
}

/**
 * The dtype the models compute in: that of the UNet's parameters. f16/bf16 models get their inputs (latents, text
 * contexts, control images) in that dtype and hand back noise predictions that are widened to f32, so the
 * scheduler's arithmetic stays in f32. ControlNets must share the UNet's dtype (their residuals are added to its
 * features).
 */
function modelDtype(opts: DenoiseOptions): DType {
  const dtype = opts.unet.conv_in.weight.tensor?.dtype ?? 'f32';
  for (const c of opts.controls ?? []) {
    const cd = c.model.conv_in.weight.tensor?.dtype ?? 'f32';
    check(cd === dtype, 'DTYPE', () => `the ControlNet's parameters are ${cd} but the UNet's are ${dtype}: load both in one dtype`);
  }
  return dtype;
}

/**
 * No policy: the reference computation, everything every step (as diffusers does), which is what the baseline
 * MAC figure of the HGC paper counts. Only the batched text context and control images are built once.
 */
function referenceStepper(opts: DenoiseOptions, guidance: number, s: StepperSetup): Stepper {
  const context = tidy(() => toModels(s.cfg ? ops.concat([opts.uncond!, opts.cond], 0) : opts.cond, s));
  s.owned.push(context);
  const controls = (opts.controls ?? []).map((c) => {
    const img = controlImage(c, s);
    const batched = s.cfg ? ops.concat([img, img], 0) : img;
    if (batched !== img) img.dispose();
    s.owned.push(batched);
    return { ...c, batched };
  });
  // tembs (graphed steps): the UNet's and each ControlNet's time embedding, inputs of the graph.
  const body = (t: number, xin: Tensor, tembs?: readonly Tensor[]): Tensor => {
    const xb = s.cfg ? ops.concat([xin, xin], 0) : xin;
    let down: Tensor[] | undefined;
    let mid: Tensor | undefined;
    controls.forEach((c, k) => {
      const r = c.model.forward(xb, t, context, c.batched, { conditioningScale: c.scale ?? 1, guessMode: c.guessMode, temb: tembs?.[k + 1] });
      down = down ? down.map((d, j) => ops.add(d, r.down[j]!)) : r.down;
      mid = mid ? ops.add(mid, r.mid) : r.mid;
    });
    const eps = opts.unet.forward(xb, t, context, { downResiduals: down, midResidual: mid, temb: tembs?.[0] });
    return s.cfg ? guide(eps, guidance) : eps;
  };
  return (i, t, xin) => {
    if (opts.macCounter) opts.macCounter.tags = { step: i, phase: s.cfg ? 'cfg' : 'cond' };
    if (!s.graphs) return body(t, xin);
    // Graphed: everything that changes between steps is an input (the time embeddings are computed eagerly).
    const batch = s.cfg ? 2 : 1;
    const tembs = [opts.unet.timeEmbedding(t, batch, xin.device), ...controls.map((c) => c.model.timeEmbedding(t, batch, xin.device))];
    return s.graphs.run('full', [xin, ...tembs], ([x, ...te]) => [body(t, x!, te)])[0]!;
  };
}

/** Under a cache policy: the exact caches, the policy's plan for each step, the generation's cache store. */
function policyStepper(opts: DenoiseOptions, policy: CachePolicy, store: CacheStore, steps: number, guidance: number,
  s: StepperSetup, alphas: readonly number[]): Stepper {
  const { unet } = opts;
  const gen = new CachedGeneration(store, policy);
  const context1 = toModels(opts.cond, s);
  s.owned.push(context1);
  const context2 = s.cfg ? tidy(() => toModels(ops.concat([opts.uncond!, opts.cond], 0), s)) : undefined;
  if (context2) s.owned.push(context2);
  const controls: PreparedControl[] = (opts.controls ?? []).map((c) => {
    // The conditioning embedding depends only on the control image: computed once (at the CFG batch) and
    // sliced for batch-1 steps, an exact cache.
    const img = controlImage(c, s);
    const batched = s.cfg ? ops.concat([img, img], 0) : img;
    const emb = c.model.embedCondition(batched);
    if (batched !== img) batched.dispose();
    img.dispose();
    s.owned.push(emb);
    const emb1 = s.cfg ? ops.slice(emb, 0, 1, 2) : emb;
    if (emb1 !== emb) s.owned.push(emb1);
    return { model: c.model, emb1, emb2: s.cfg ? emb : undefined, scale: c.scale ?? 1, guessMode: c.guessMode ?? false };
  });
  policy.begin?.({ totalSteps: steps, cfg: s.cfg, latentHeight: s.h, latentWidth: s.w, branches: unet.branchCount });
  let previousBatch = 0;
  return (i, t, xin) => {
    const ctx = { index: i, timestep: t, totalSteps: steps, cfg: s.cfg, previousBatch, alphaCumprod: alphaCumprodAt(alphas, t) };
    const plan = policy.plan(ctx);
    const batch = plan.cfg && s.cfg ? 2 : 1;
    if (opts.macCounter) opts.macCounter.tags = { step: i, phase: batch === 2 ? 'cfg' : 'cond' };
    const { eps, obs } = gen.step(ctx, plan, { unet, controls, x: xin, timestep: t, context2, context1, guidance, graphs: s.graphs });
    policy.observe?.(ctx, obs);
    opts.onPlan?.({ step: i, plan, observation: obs });
    previousBatch = batch;
    return eps;
  };
}
