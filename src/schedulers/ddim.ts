/** DDIM (Song et al. 2020), deterministic (η = 0), ε-prediction; matches diffusers' DDIMScheduler. */
import type { Tensor } from '../tensor.js';
import { type ResolvedBase, checkPair, checkSample, checkStepIndex, checkSteps, combine, resolveBase } from './base.js';
import { singleStepTimesteps } from './spacing.js';
import type { BaseSchedulerConfig, Scheduler, StepResult } from './types.js';

/** DDIM settings. */
export interface DDIMConfig extends BaseSchedulerConfig {
  /** Use ᾱ = 1 after the last step instead of ᾱ₀ (default false, as in SD1.5). */
  setAlphaToOne?: boolean;
}

/** The DDIM sampler. Default spacing 'leading' (with stepsOffset 1: 951, 901, …, 1 for 20 steps). */
export class DDIMScheduler implements Scheduler {
  readonly name = 'ddim' as const;
  readonly initNoiseSigma = 1;
  readonly alphasCumprod: readonly number[];
  /** ᾱ used after the final step. */
  readonly finalAlphaCumprod: number;
  #base: ResolvedBase;
  #timesteps: number[] = [];
  #stepRatio = 0;

  constructor(config?: DDIMConfig) {
    this.#base = resolveBase(config, 'leading', 'DDIMScheduler');
    this.alphasCumprod = this.#base.alphasCumprod;
    this.finalAlphaCumprod = config?.setAlphaToOne === true ? 1 : this.alphasCumprod[0]!;
  }

  get timesteps(): readonly number[] {
    return this.#timesteps;
  }

  setTimesteps(numSteps: number): void {
    const b = this.#base;
    checkSteps(numSteps, b.numTrainTimesteps, 'DDIMScheduler.setTimesteps');
    this.#timesteps = singleStepTimesteps(b.timestepSpacing, b.numTrainTimesteps, numSteps, b.stepsOffset);
    this.#stepRatio = Math.floor(b.numTrainTimesteps / numSteps);
  }

  reset(): void {}

  scaleModelInput(sample: Tensor, stepIndex: number): Tensor {
    checkSample(sample, 'DDIMScheduler.scaleModelInput');
    checkStepIndex(stepIndex, this.#timesteps.length, 'DDIMScheduler.scaleModelInput');
    return sample.clone();
  }

  step(modelOutput: Tensor, stepIndex: number, sample: Tensor): Tensor {
    const r = this.stepWithPrediction(modelOutput, stepIndex, sample);
    r.predOriginalSample.dispose();
    return r.prevSample;
  }

  stepWithPrediction(modelOutput: Tensor, stepIndex: number, sample: Tensor): StepResult {
    checkPair(modelOutput, sample, 'DDIMScheduler.step');
    checkStepIndex(stepIndex, this.#timesteps.length, 'DDIMScheduler.step');
    const t = this.#timesteps[stepIndex]!;
    // As diffusers: the previous timestep is t − T/N, also for 'linspace'/'trailing' spacing.
    const prevT = t - this.#stepRatio;
    const a = this.alphasCumprod[t]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    // x₀ = (x − √(1−ᾱ)·ε) / √ᾱ;  x_prev = √ᾱ_prev·x₀ + √(1−ᾱ_prev)·ε
    const predOriginalSample = combine([1 / Math.sqrt(a), sample], [-Math.sqrt(1 - a) / Math.sqrt(a), modelOutput]);
    const prevSample = combine([Math.sqrt(aPrev), predOriginalSample], [Math.sqrt(1 - aPrev), modelOutput]);
    return { prevSample, predOriginalSample };
  }
}
