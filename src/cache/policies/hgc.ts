/**
 * HGC — hybrid-grained cache (../shared/reference/hgc.md). Coarse: G runs fully on "full" steps (keeping h_b at
 * skip branch λ_intra, the probe, and the ControlNet residuals); on cached steps only S_b runs, with h_b and the
 * residuals S_b consumes taken from the last full step, so C does not run. Fine: cross-attention layers capture
 * on full steps and replay on the following cached steps (up to attnInterval); at step g−1 they keep the mean of
 * the CFG halves, and from g on CFG is dropped and they return that fused output (C runs at batch 1 too).
 * Full steps come from a calibrated step list (λ_inter = share of cached steps) or online from the probe drift.
 * The cache depth λ_intra may vary along the schedule (a per-step branch list; the default is one).
 */
import { HgcError } from '../../errors.js';
import type { CachePolicy, CrossAttentionMode, ReuseAxis, StepContext, StepPlan } from '../policy.js';
import { checkReuseAxis } from '../reuse-axis.js';
import { attentionBytes, branchBytes, deepBytes } from './memory.js';

/** Options of {@link hgc}; every one has a default, so `hgc()` is the calibrated HGC at 6.71 T for SD1.5. */
export interface HgcOptions {
  /**
   * λ_intra: the skip branch b where cached steps cut the UNet (0 = shallowest), or a per-step cache depth: a
   * list of T branches, b_i for step i (entries of full steps are ignored; full steps keep h_b for every branch
   * listed, the probe at the smallest). A list needs the calibrated schedule. Default: the calibrated schedule
   * without a calibration uses {@link defaultHgcBranches}; with a calibration, its branch; online, 1.
   */
  lambdaIntra?: number | number[];
  /** λ_inter: share of steps served from the block cache, used with `calibration` (default 0.75). */
  lambdaInter?: number;
  /** 'calibrated' (default): full steps from `fullSteps` or `calibration`; 'online': from the drift threshold. */
  schedule?: 'calibrated' | 'online';
  /** The calibrated full-step list (0-based). Default: {@link defaultHgcFullSteps}. */
  fullSteps?: number[];
  /** A calibration (see calibrateHgcSchedule): its drift ranking and λ_inter give the full steps. */
  calibration?: HgcCalibration;
  /** Online: a step is full when the (accumulated) relative L1 drift of the probe exceeds τ (default 0.15). */
  threshold?: number;
  /** Online: accumulate drift over cached steps, TeaCache-style (default true). */
  accumulate?: boolean;
  /** Steps before this index are always full (default 1). */
  warmup?: number;
  /** At most this many steps between full steps (default 5). */
  maxInterval?: number;
  /** Make the last step full (default false). */
  lastStepFull?: boolean;
  /**
   * Gate step g: CFG is dropped from g on. Default: no gate — the reference's g = 10, and even a gate on the last
   * step, cost too much fidelity at guidance 7.5 (docs/cache-evaluation.md). Set it to enable the fusion.
   */
  gateStep?: number;
  /** Replay cross-attention for at most this many steps after a capture (default: until the next full step). */
  attnInterval?: number;
  /** Replay the probability maps (P·V with the cached V, then to_out) instead of the layer outputs (default false). */
  replayMaps?: boolean;
  /** On cached steps reuse the ControlNet residuals (default 'reuse'; 'run' runs C every step, an ablation). */
  controlnet?: 'reuse' | 'run';
  /**
   * How cached steps reuse h_b, the probe reference and the ControlNet residuals (StepPlan.reuse): 'linear'
   * (default) extrapolates them from the last two full steps, 'hold' reuses the last full step's values as
   * stored (DeepCache's rule), 'quadratic' uses three full steps (measured worse on the toy model).
   */
  reuse?: 'hold' | 'linear' | 'quadratic';
  /**
   * The coordinate of that extrapolation (StepPlan.reuseAxis): 'step' (default), 'timestep', 'sigma' or 'logSnr'.
   */
  reuseAxis?: ReuseAxis;
}

/** A reusable calibration: the drift of the probe at branch b in an uncached run (JSON-serialisable). */
export interface HgcCalibration {
  /** The skip branch b the drift was measured at. */
  branch: number;
  /** Number of steps of the recorded generation (a calibration applies to generations of the same length). */
  steps: number;
  /**
   * drift[i]: relative L1 change from step i−1 to step i of the cached deep feature h_b (what a cached step
   * would reuse); drift[0] = Infinity (step 0 is always full).
   */
  drift: number[];
  /** The same for the probe f_i (the shallow feature online decisions use). */
  probeDrift?: number[];
}

/**
 * The default calibrated schedule: for 20 steps [0, 3, 6, 10, 14, 18] (6 full steps, λ_inter = 0.7). With the
 * default per-step depth ({@link defaultHgcBranches}), linear reuse and no gate it puts SD1.5 + ControlNet at
 * 512×512 with CFG at 6.71 TMACs, the HGC paper's 6.70 T. It was chosen, with the depth, by measured fidelity to
 * the uncached run on eval cases 0–31 of the trained toy model and reported on the held-out cases 32–63
 * (docs/cache-evaluation.md); other step counts scale the same positions.
 */
export function defaultHgcFullSteps(steps: number): number[] {
  const at20 = [0, 3, 6, 10, 14, 18];
  return [...new Set(at20.map((k) => Math.min(steps - 1, Math.round((k * steps) / 20))))];
}

/** The full steps of a calibration: step 0 plus the steps with the largest drift, ⌈(1 − λ_inter)·T⌉ in all. */
export function fullStepsFromCalibration(cal: HgcCalibration, lambdaInter: number): number[] {
  const count = Math.max(1, Math.ceil((1 - lambdaInter) * cal.steps));
  const ranked = cal.drift.map((d, i) => ({ d: i === 0 ? Infinity : d, i })).sort((a, b) => b.d - a.d || a.i - b.i);
  return ranked.slice(0, count).map((r) => r.i).sort((a, b) => a - b);
}

/**
 * The default per-step cache depth (λ_intra for each step): branch 0 on most cached steps (only conv_in,
 * down_blocks.0's first layer, up_blocks.3's last layer and conv_out run), and branch 2 (all of down_blocks.0
 * with its downsampler and all of up_blocks.3) on the cached steps of the last fifth of the schedule (steps 16,
 * 17 and 19 of 20), where the features drift most and the image's fine detail is set. Chosen on eval cases 0–31
 * (docs/cache-evaluation.md).
 */
export function defaultHgcBranches(steps: number): number[] {
  const from = Math.round(0.8 * steps);
  return Array.from({ length: steps }, (_, i) => (i >= from ? 2 : 0));
}

/** A cache depth: the branch of each step, the probe branch (the smallest) and the other branches full steps keep. */
function cacheDepth(lambdaIntra: number | readonly number[]): { probe: number; extra: number[]; at: (i: number) => number } {
  if (typeof lambdaIntra === 'number') return { probe: lambdaIntra, extra: [], at: () => lambdaIntra };
  const probe = Math.min(...lambdaIntra);
  const extra = [...new Set(lambdaIntra)].filter((k) => k !== probe).sort((x, y) => x - y);
  return { probe, extra, at: (i) => lambdaIntra[i] ?? probe };
}

function checkNumber(name: string, v: number | undefined, lo: number, hi: number, integer = false): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !(v >= lo && v <= hi) || (integer && !Number.isInteger(v))) {
    throw new HgcError('ARG', `hgc: ${name} must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${v}`);
  }
}

/**
 * The HGC policy (see the module comment and docs/cache-policies.md). HgcError('ARG') for out-of-range options.
 * @param opts The options; defaults as documented on {@link HgcOptions}.
 */
export function hgc(opts: HgcOptions = {}): CachePolicy {
  const perStep = Array.isArray(opts.lambdaIntra) ? [...opts.lambdaIntra] : undefined;
  if (perStep) {
    if (perStep.length === 0) throw new HgcError('ARG', 'hgc: lambdaIntra as a list needs one branch per step, got an empty list');
    perStep.forEach((v, i) => checkNumber(`lambdaIntra[${i}]`, v, 0, 64, true));
  } else {
    checkNumber('lambdaIntra', opts.lambdaIntra as number | undefined, 0, 64, true);
  }
  checkNumber('lambdaInter', opts.lambdaInter, 0, 1);
  checkNumber('threshold', opts.threshold, 0, Infinity);
  checkNumber('warmup', opts.warmup, 0, 1e6, true);
  checkNumber('maxInterval', opts.maxInterval, 1, 1e6, true);
  checkNumber('gateStep', opts.gateStep, 0, 1e6, true);
  checkNumber('attnInterval', opts.attnInterval, 0, Infinity);
  const schedule = opts.schedule ?? 'calibrated';
  if (schedule !== 'calibrated' && schedule !== 'online') throw new HgcError('ARG', `hgc: schedule must be 'calibrated' or 'online', got ${String(schedule)}`);
  if (perStep && schedule === 'online') throw new HgcError('ARG', 'hgc: a per-step lambdaIntra list needs the calibrated schedule');
  if (opts.fullSteps && !(Array.isArray(opts.fullSteps) && opts.fullSteps.every((k) => Number.isInteger(k) && k >= 0))) {
    throw new HgcError('ARG', `hgc: fullSteps must be non-negative integers, got ${JSON.stringify(opts.fullSteps)}`);
  }
  // The default cache depth: per step for the default calibrated schedule, one branch otherwise.
  const depthDefault = perStep === undefined && opts.lambdaIntra === undefined && schedule === 'calibrated' && !opts.calibration;
  const single = (opts.lambdaIntra as number | undefined) ?? opts.calibration?.branch ?? 1;
  let depth = cacheDepth(perStep ?? single);
  const lambdaInter = opts.lambdaInter ?? 0.75;
  const tau = opts.threshold ?? 0.15;
  const warmup = opts.warmup ?? 1;
  const maxInterval = opts.maxInterval ?? 5;
  let g = opts.gateStep ?? Infinity;
  const attnInterval = opts.attnInterval ?? Infinity;
  const cnCached = opts.controlnet ?? 'reuse';
  if (cnCached !== 'reuse' && cnCached !== 'run') throw new HgcError('ARG', `hgc: controlnet must be 'reuse' or 'run', got ${String(cnCached)}`);
  const reuse = opts.reuse ?? 'linear';
  if (!['hold', 'linear', 'quadratic'].includes(reuse)) throw new HgcError('ARG', `hgc: reuse must be 'hold', 'linear' or 'quadratic', got ${String(reuse)}`);
  const reuseAxis = checkReuseAxis(opts.reuseAxis, 'hgc');
  let full = new Set<number>();
  let lastFull = -1;
  let lastCapture = -1;
  let accumulated = 0;

  const attentionMode = (ctx: StepContext, isFull: boolean | undefined): CrossAttentionMode => {
    if (ctx.cfg && ctx.index >= g) return 'fused';
    if (ctx.cfg && ctx.index === g - 1) return 'capture';  // keep the fused outputs at the gate
    if (isFull !== false) return 'capture';
    return ctx.index - lastCapture <= attnInterval ? 'replay' : 'capture';
  };

  return {
    name: `hgc(${schedule}, lambdaIntra=${perStep ? perStep.join('/') : depthDefault ? 'default' : single}, ${schedule === 'online' ? `threshold=${tau}` : opts.calibration ? `lambdaInter=${lambdaInter}` : 'default steps'}, gateStep=${opts.gateStep ?? 'none'})`,
    begin(info) {
      g = opts.gateStep ?? Infinity;
      depth = cacheDepth(depthDefault ? defaultHgcBranches(info.totalSteps) : perStep ?? single);
      const deepest = Math.max(depth.probe, ...depth.extra);
      if (deepest >= info.branches) throw new HgcError('ARG', `hgc: lambdaIntra ${deepest} is out of range 0..${info.branches - 1}`);
      if (perStep && perStep.length !== info.totalSteps) {
        throw new HgcError('ARG', `hgc: lambdaIntra lists ${perStep.length} branches, the generation has ${info.totalSteps} steps`);
      }
      if (opts.calibration) {
        if (opts.calibration.steps !== info.totalSteps) {
          throw new HgcError('ARG', `hgc: the calibration has ${opts.calibration.steps} steps, the generation ${info.totalSteps}`);
        }
        full = new Set(fullStepsFromCalibration(opts.calibration, lambdaInter));
      } else {
        full = new Set(opts.fullSteps ?? defaultHgcFullSteps(info.totalSteps));
      }
      full.add(0);
      lastFull = -1;
      lastCapture = -1;
      accumulated = 0;
    },
    plan(ctx): StepPlan {
      const cfg = ctx.cfg && ctx.index < g;
      const forced = ctx.index < warmup || lastFull < 0 || ctx.index - lastFull >= maxInterval
        || (opts.lastStepFull === true && ctx.index === ctx.totalSteps - 1);
      const b = depth.probe;
      if (schedule === 'online') {
        const block = forced ? { kind: 'full' as const } : { kind: 'auto' as const, branch: b };
        return {
          cfg, block, storeBranch: b, storeResiduals: true, controlnet: forced ? 'run' : cnCached,
          crossAttention: attentionMode(ctx, forced ? true : undefined), replayMaps: opts.replayMaps, reuse, reuseAxis,
        };
      }
      const isFull = forced || full.has(ctx.index);
      return {
        cfg,
        block: isFull ? { kind: 'full' } : { kind: 'shallow', branch: depth.at(ctx.index) },
        storeBranch: b,
        storeBranches: depth.extra.length > 0 ? depth.extra : undefined,
        storeResiduals: isFull,
        controlnet: isFull ? 'run' : cnCached,
        crossAttention: attentionMode(ctx, isFull),
        replayMaps: opts.replayMaps,
        reuse,
        reuseAxis,
      };
    },
    decide(ctx, drift) {
      // With accumulation, the drift of each cached step adds up until a full step resets it (TeaCache).
      const value = (opts.accumulate ?? true) ? accumulated + drift : drift;
      return value > tau || ctx.index - lastFull >= maxInterval;
    },
    observe(ctx, obs) {
      if (obs.full) {
        lastFull = ctx.index;
        accumulated = 0;
      } else if (obs.drift !== undefined) {
        accumulated += obs.drift;
      }
      const mode = attentionMode(ctx, obs.full);
      if (mode === 'capture' || obs.full) lastCapture = ctx.index;
    },
    memoryBytes: (info) => {
      const d = cacheDepth(depthDefault ? defaultHgcBranches(info.totalSteps) : perStep ?? single);
      return d.extra.reduce((s, k) => s + deepBytes(info, k), branchBytes(info, d.probe, true)) + attentionBytes(info, 'outputs');
    },
  };
}

/**
 * A policy that runs every step fully and records the probe drift at `branch` against the previous step:
 * run one generation with it, then pass `recorder.calibration()` to hgc({ calibration, lambdaInter }).
 */
export function hgcCalibrationRecorder(branch = 0): CachePolicy & {
  /** The calibration recorded by the last generation run with this policy. */
  calibration(): HgcCalibration;
} {
  let drift: number[] = [];
  let probeDrift: number[] = [];
  let steps = 0;
  return {
    name: `hgcCalibration(branch=${branch})`,
    begin(info) {
      drift = [];
      probeDrift = [];
      steps = info.totalSteps;
    },
    plan: (ctx) => ({ cfg: ctx.cfg, block: { kind: 'full' }, storeBranch: branch, controlnet: 'run', crossAttention: 'compute' }),
    observe(ctx, obs) {
      drift[ctx.index] = obs.deepDrift ?? Infinity;
      probeDrift[ctx.index] = obs.drift ?? Infinity;
    },
    calibration: () => ({ branch, steps, drift: [...drift], probeDrift: [...probeDrift] }),
  };
}
