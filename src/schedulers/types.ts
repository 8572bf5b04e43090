/** The common scheduler interface and configuration. */
import type { Tensor } from '../tensor.js';
import type { BetaSchedule } from './betas.js';
import type { TimestepSpacing } from './spacing.js';

/** Settings shared by every scheduler (defaults: Stable Diffusion 1.5's scheduler config). */
export interface BaseSchedulerConfig {
  /** Training timesteps (default 1000). */
  numTrainTimesteps?: number;
  /** First beta (default 0.00085). */
  betaStart?: number;
  /** Last beta (default 0.012). */
  betaEnd?: number;
  /** Beta schedule (default 'scaled_linear'). */
  betaSchedule?: BetaSchedule;
  /** Timestep spacing; the default is the class's own diffusers default ('leading' for DDIM, 'linspace' otherwise). */
  timestepSpacing?: TimestepSpacing;
  /** Added to 'leading' timesteps (default 1). */
  stepsOffset?: number;
}

/** The result of a step with its clean-sample estimate. */
export interface StepResult {
  /** The sample for the next (less noisy) step. */
  prevSample: Tensor;
  /** The model's estimate of the clean sample x₀ at this step. */
  predOriginalSample: Tensor;
}

/**
 * A diffusion sampler over a fixed list of timesteps. The loop is
 * `x = noise·initNoiseSigma; for i: eps = model(scaleModelInput(x, i), timesteps[i]); x = step(eps, i, x)`.
 * Steps are addressed by index, never by timestep value. Every returned tensor is new and owned by the caller;
 * inputs are never disposed. Multistep schedulers keep a history that `reset()` (or `setTimesteps`) clears.
 */
export interface Scheduler {
  /** Scheduler name as accepted by `createScheduler`. */
  readonly name: SchedulerName;
  /** The timesteps to pass to the model, in order (empty before `setTimesteps`). */
  readonly timesteps: readonly number[];
  /** Scale for the initial Gaussian noise. */
  readonly initNoiseSigma: number;
  /** ᾱ over the training timesteps. */
  readonly alphasCumprod: readonly number[];
  /** Chooses `numSteps` inference timesteps and clears any history. */
  setTimesteps(numSteps: number): void;
  /** The model input for step `stepIndex` (a new tensor, scaled when the scheduler needs it). */
  scaleModelInput(sample: Tensor, stepIndex: number): Tensor;
  /** One denoising step: the sample for step `stepIndex + 1`. */
  step(modelOutput: Tensor, stepIndex: number, sample: Tensor): Tensor;
  /** `step` that also returns the x₀ estimate. */
  stepWithPrediction(modelOutput: Tensor, stepIndex: number, sample: Tensor): StepResult;
  /** Forgets the multistep history (a no-op for single-step schedulers) so a new generation can start. */
  reset(): void;
}

/** The scheduler names `createScheduler` accepts. */
export type SchedulerName = 'ddim' | 'euler' | 'dpmpp-2m' | 'unipc';
