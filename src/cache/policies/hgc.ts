/**
 * HGC — hybrid-grained cache (../shared/reference/hgc.md). Coarse: G runs fully on "full" steps (keeping h_b at
 * skip branch λ_intra, the probe, and the ControlNet residuals); on cached steps only S_b runs, with h_b and the
 * residuals S_b consumes taken from the last full step, so C does not run. Fine: cross-attention layers capture
 * on full steps and replay on the following cached steps (up to attnInterval); at step g−1 they keep the mean of
 * the CFG halves, and from g on CFG is dropped and they return that fused output (C runs at batch 1 too).
 * Full steps come from a calibrated step list (λ_inter = share of cached steps) or online from the probe drift.
 */
import { HgcError } from '../../errors.js';
import type { CachePolicy, CrossAttentionMode, StepContext, StepPlan } from '../policy.js';
import { attentionBytes, branchBytes } from './memory.js';

/** Options of {@link hgc}; every one has a default, so `hgc()` is the calibrated HGC at ≈6.6 T for SD1.5. */
export interface HgcOptions {
  /** λ_intra: the skip branch b (0 = shallowest; default 1: down_blocks.0 layers 0–1 and their up layers). */
  lambdaIntra?: number;
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
 * The default calibrated schedule: for 20 steps [0, 3, 8, 13, 18] (5 full steps, λ_inter = 0.75). With
 * λ_intra = 1 and no gate it puts SD1.5 + ControlNet at 512×512 with CFG at 6.57 TMACs, within 2% of the HGC
 * paper's 6.70 T. It was chosen, together with the default linear reuse, by measured fidelity to the uncached run
 * on the trained toy model among the schedules at that budget (docs/cache-evaluation.md); other step counts
 * scale the same positions.
 */
export function defaultHgcFullSteps(steps: number): number[] {
  const at20 = [0, 3, 8, 13, 18];
  return [...new Set(at20.map((k) => Math.min(steps - 1, Math.round((k * steps) / 20))))];
}

/** The full steps of a calibration: step 0 plus the steps with the largest drift, ⌈(1 − λ_inter)·T⌉ in all. */
export function fullStepsFromCalibration(cal: HgcCalibration, lambdaInter: number): number[] {
  const count = Math.max(1, Math.ceil((1 - lambdaInter) * cal.steps));
  const ranked = cal.drift.map((d, i) => ({ d: i === 0 ? Infinity : d, i })).sort((a, b) => b.d - a.d || a.i - b.i);
  return ranked.slice(0, count).map((r) => r.i).sort((a, b) => a - b);
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
  checkNumber('lambdaIntra', opts.lambdaIntra, 0, 64, true);
  checkNumber('lambdaInter', opts.lambdaInter, 0, 1);
  checkNumber('threshold', opts.threshold, 0, Infinity);
  checkNumber('warmup', opts.warmup, 0, 1e6, true);
  checkNumber('maxInterval', opts.maxInterval, 1, 1e6, true);
  checkNumber('gateStep', opts.gateStep, 0, 1e6, true);
  checkNumber('attnInterval', opts.attnInterval, 0, Infinity);
  const schedule = opts.schedule ?? 'calibrated';
  if (schedule !== 'calibrated' && schedule !== 'online') throw new HgcError('ARG', `hgc: schedule must be 'calibrated' or 'online', got ${String(schedule)}`);
  if (opts.fullSteps && !(Array.isArray(opts.fullSteps) && opts.fullSteps.every((k) => Number.isInteger(k) && k >= 0))) {
    throw new HgcError('ARG', `hgc: fullSteps must be non-negative integers, got ${JSON.stringify(opts.fullSteps)}`);
  }
  const b = opts.lambdaIntra ?? opts.calibration?.branch ?? 1;
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
    name: `hgc(${schedule}, lambdaIntra=${b}, ${schedule === 'online' ? `threshold=${tau}` : opts.calibration ? `lambdaInter=${lambdaInter}` : 'default steps'}, gateStep=${opts.gateStep ?? 'none'})`,
    begin(info) {
      g = opts.gateStep ?? Infinity;
      if (b >= info.branches) throw new HgcError('ARG', `hgc: lambdaIntra ${b} is out of range 0..${info.branches - 1}`);
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
      if (schedule === 'online') {
        const block = forced ? { kind: 'full' as const } : { kind: 'auto' as const, branch: b };
        return {
          cfg, block, storeBranch: b, storeResiduals: true, controlnet: forced ? 'run' : cnCached,
          crossAttention: attentionMode(ctx, forced ? true : undefined), replayMaps: opts.replayMaps, reuse,
        };
      }
      const isFull = forced || full.has(ctx.index);
      return {
        cfg,
        block: isFull ? { kind: 'full' } : { kind: 'shallow', branch: b },
        storeBranch: b,
        storeResiduals: isFull,
        controlnet: isFull ? 'run' : cnCached,
        crossAttention: attentionMode(ctx, isFull),
        replayMaps: opts.replayMaps,
        reuse,
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
    memoryBytes: (info) => branchBytes(info, b, true) + attentionBytes(info, 'outputs'),
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
