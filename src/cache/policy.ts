/**
 * The cache-policy API. A policy sees an explicit step context and returns a plan for the step; it may watch
 * the feature drift the step measures. Precedence when plans are composed (see compose.ts): the CFG gate
 * decides the batch first; the block level decides which parts of G and C run; the attention level decides
 * what each cross-attention layer that does run computes.
 */

/** What a policy knows about a step. Steps are identified by index, never inferred from timestep values. */
export interface StepContext {
  /** 0-based step index. */
  index: number;
  /** The scheduler's timestep for this step. */
  timestep: number;
  /** Number of denoising steps in the generation. */
  totalSteps: number;
  /** Whether the generation uses classifier-free guidance at all (guidance ≠ 1). */
  cfg: boolean;
  /** Batch of the UNet in the previous step (2 with CFG, 1 without); 0 before the first step. */
  previousBatch: number;
  /**
   * ᾱ (the noise schedule's cumulative α product) at this step's timestep, from the scheduler; gives the noise
   * level σ = √((1 − ᾱ)/ᾱ) and the log-SNR log(ᾱ/(1 − ᾱ)) for policies and for extrapolating cached features in
   * those coordinates (StepPlan.reuseAxis). Undefined when the caller does not know the schedule.
   */
  alphaCumprod?: number;
}

/**
 * The coordinate along which cached features are extrapolated (StepPlan.reuseAxis): the step index, the
 * scheduler's timestep, the noise level σ = √((1 − ᾱ)/ᾱ), or the log-SNR log(ᾱ/(1 − ᾱ)) (= 2λ, λ being the
 * DPM-Solver/UniPC time variable; any affine change of the coordinate gives the same extrapolation).
 */
export type ReuseAxis = 'step' | 'timestep' | 'sigma' | 'logSnr';

/** What a cross-attention layer does in a step. */
export type CrossAttentionMode =
  /** Compute it (text K/V come from the exact per-generation cache). */
  | 'compute'
  /** Compute it and keep its output (and its map when the policy asks) for later steps. */
  | 'capture'
  /** Reuse the last captured result for this layer (falls back to capture when nothing is cached). */
  | 'replay'
  /** Return the fused (mean of unconditional and conditional) output kept at the gate; no text path. */
  | 'fused';

/** How the UNet (G) runs in a step. */
export type BlockPlan =
  /** The whole network. */
  | {
    /** Run G whole. */
    kind: 'full';
  }
  /** Only the shallow part S_b; h_b and the residuals S_b consumes come from the last full step. */
  | {
    /** Run only S_b. */
    kind: 'shallow';
    /** The skip branch b (0 … branches − 1) whose cached h_b is reused. */
    branch: number;
  }
  /** Decide after the probe at branch b: the policy's decide() gets the drift. */
  | {
    /** Probe first, then let {@link CachePolicy.decide} choose full or shallow. */
    kind: 'auto';
    /** The skip branch b where the probe is measured and h_b would be reused. */
    branch: number;
  }
  /** Faster-Diffusion: the encoder outputs (skips with residuals, mid) come from the last key step. */
  | {
    /** Run the decoder half only, on the stored encoder outputs. */
    kind: 'decoder';
  };

/** The plan of one step. */
export interface StepPlan {
  /** Run with CFG (batch 2, guidance); false: batch 1 with fused cross-attention (after a gate). */
  cfg: boolean;
  /** How the UNet runs: whole, shallow part only, decided after the probe, or decoder only. */
  block: BlockPlan;
  /** On full runs, keep h_b and the residuals of skips 0..b for this branch (the probe is measured there too). */
  storeBranch?: number;
  /**
   * On full runs, also keep h_k for these branches k (for later shallow steps at another depth; no probe is kept
   * for them, so shallow steps at a branch other than storeBranch measure no drift).
   */
  storeBranches?: readonly number[];
  /** On full runs, keep the encoder outputs (Faster-Diffusion key steps). */
  storeEncoder?: boolean;
  /** When the ControlNet runs, keep its residuals for later 'reuse' steps. */
  storeResiduals?: boolean;
  /** ControlNet: run it, or reuse the residuals of the last step it ran (runs anyway on a miss). */
  controlnet: 'run' | 'reuse';
  /** Default cross-attention mode for every layer that runs. */
  crossAttention: CrossAttentionMode;
  /** Per-layer override by module path ('unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2'). */
  crossAttentionLayer?: (path: string) => CrossAttentionMode | undefined;
  /** With 'replay': replay the probability map (P·V with the cached V, then to_out) instead of the output. */
  replayMaps?: boolean;
  /**
   * How a reusing step uses h_b, the probe reference and the ControlNet residuals: 'hold' (default) takes them as
   * stored at the last full step; 'linear' / 'quadratic' extrapolate them along the step index through the last
   * two / three stored values (elementwise, no MACs counted; keeps one / two more copies of each).
   */
  reuse?: 'hold' | 'linear' | 'quadratic';
  /**
   * The coordinate of the 'linear' / 'quadratic' extrapolation (default 'step'); 'sigma' and 'logSnr' need
   * StepContext.alphaCumprod (denoise() provides it). See {@link ReuseAxis}.
   */
  reuseAxis?: ReuseAxis;
}

/** What a step measured, reported to {@link CachePolicy.observe}. */
export interface StepObservation {
  /** Whether G ran fully. */
  full: boolean;
  /** Relative L1 drift of the probe against the last full step (undefined when no probe was measured). */
  drift?: number;
  /** On full steps that store h_b: its relative L1 change since the previous stored h_b. */
  deepDrift?: number;
  /** Things the step wanted from the cache but did not find (it computed them instead). */
  misses: string[];
}

/** Information at the start of a generation. */
export interface GenerationInfo {
  /** Number of denoising steps. */
  totalSteps: number;
  /** Whether the generation uses classifier-free guidance (guidance ≠ 1). */
  cfg: boolean;
  /** Latent height (image height / 8). */
  latentHeight: number;
  /** Latent width (image width / 8). */
  latentWidth: number;
  /** Number of skip branches of the UNet (valid branch indices are 0..branches−1). */
  branches: number;
}

/**
 * A cache policy. Only `plan` is required; writing one takes a single small file
 * (docs/cache-policies.md has a worked example).
 */
export interface CachePolicy {
  /** Short name shown in reports and charts (e.g. 'hgc', 'deepCache'). */
  readonly name: string;
  /** Called once per generation, before step 0. Reset per-generation state here. */
  begin?(info: GenerationInfo): void;
  /** The plan for step `ctx.index`; called once per step, in order. Start from {@link fullPlan} to cache nothing. */
  plan(ctx: StepContext): StepPlan;
  /** For `{ kind: 'auto' }` plans: whether the step must run fully, given the probe drift. */
  decide?(ctx: StepContext, drift: number): boolean;
  /** Called after each step with what it measured (probe drift, misses), for adaptive policies. */
  observe?(ctx: StepContext, obs: StepObservation): void;
  /**
   * Upper bound, in bytes, of what the policy keeps in the cache for one generation at the given latent size,
   * batch 2 (documented memory; the pool's budget is what is enforced).
   */
  memoryBytes?(info: GenerationInfo & { channels: number[] }): number;
}

/** The plan of a step with no caching at all. */
export function fullPlan(ctx: StepContext): StepPlan {
  return { cfg: ctx.cfg, block: { kind: 'full' }, controlnet: 'run', crossAttention: 'compute' };
}
