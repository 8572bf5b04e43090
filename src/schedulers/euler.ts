/** Euler discrete sampler (Karras et al. 2022, Algorithm 2 with s_churn = 0), ε-prediction; matches diffusers' EulerDiscreteScheduler. */
import type { Tensor } from '../tensor.js';
import { scale } from '../ops/elementwise.js';
import { type ResolvedBase, checkPair, checkSample, checkStepIndex, checkSteps, combine, resolveBase } from './base.js';
import { type FinalSigmasType, inferenceSigmas, trainingSigmas } from './sigmas.js';
import { singleStepTimesteps } from './spacing.js';
import type { BaseSchedulerConfig, Scheduler, StepResult } from './types.js';

const f32 = Math.fround;

/** Euler settings. */
export interface EulerConfig extends BaseSchedulerConfig {
  /** σ after the last step (default 'zero'). */
  finalSigmasType?: FinalSigmasType;
}

/** The Euler sampler. Timesteps are float32 values (999, 946.42…, …, 0 for 20 'linspace' steps). */
export class EulerDiscreteScheduler implements Scheduler {
  readonly name = 'euler' as const;
  readonly alphasCumprod: readonly number[];
  #base: ResolvedBase;
  #finalType: FinalSigmasType;
  #trainSigmas: number[];
  #timesteps: number[] = [];
  #sigmas: number[] = [];

  constructor(config?: EulerConfig) {
    this.#base = resolveBase(config, 'linspace', 'EulerDiscreteScheduler');
    this.#finalType = config?.finalSigmasType ?? 'zero';
    this.alphasCumprod = this.#base.alphasCumprod;
    this.#trainSigmas = trainingSigmas(this.alphasCumprod);
  }

  get timesteps(): readonly number[] {
    return this.#timesteps;
  }

  /** σ at each step plus the final one (N + 1 values; empty before setTimesteps). */
  get sigmas(): readonly number[] {
    return this.#sigmas;
  }

  /** The largest σ for 'linspace'/'trailing' spacing, √(σ²max + 1) for 'leading' (as diffusers). */
  get initNoiseSigma(): number {
    const max = Math.max(...(this.#sigmas.length > 0 ? this.#sigmas : this.#trainSigmas));
    return this.#base.timestepSpacing === 'leading' ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
  }

  setTimesteps(numSteps: number): void {
    const b = this.#base;
    checkSteps(numSteps, b.numTrainTimesteps, 'EulerDiscreteScheduler.setTimesteps');
    const ts = singleStepTimesteps(b.timestepSpacing, b.numTrainTimesteps, numSteps, b.stepsOffset, true);
    this.#sigmas = inferenceSigmas(ts, this.#trainSigmas, this.#finalType, 'EulerDiscreteScheduler');
    this.#timesteps = ts;
  }

  reset(): void {}

  /** x / √(σ² + 1). */
  scaleModelInput(sample: Tensor, stepIndex: number): Tensor {
    checkSample(sample, 'EulerDiscreteScheduler.scaleModelInput');
    checkStepIndex(stepIndex, this.#timesteps.length, 'EulerDiscreteScheduler.scaleModelInput');
    const sigma = this.#sigmas[stepIndex]!;
    return scale(sample, 1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  }

  step(modelOutput: Tensor, stepIndex: number, sample: Tensor): Tensor {
    const r = this.stepWithPrediction(modelOutput, stepIndex, sample);
    r.predOriginalSample.dispose();
    return r.prevSample;
  }

  stepWithPrediction(modelOutput: Tensor, stepIndex: number, sample: Tensor): StepResult {
    checkPair(modelOutput, sample, 'EulerDiscreteScheduler.step');
    checkStepIndex(stepIndex, this.#timesteps.length, 'EulerDiscreteScheduler.step');
    const sigma = this.#sigmas[stepIndex]!, next = this.#sigmas[stepIndex + 1]!;
    // x₀ = x − σ·ε; the ODE derivative (x − x₀)/σ is ε, so x_next = x + (σ_next − σ)·ε.
    const predOriginalSample = combine([1, sample], [-sigma, modelOutput]);
    const prevSample = combine([1, sample], [f32(next - sigma), modelOutput]);
    return { prevSample, predOriginalSample };
  }
}
