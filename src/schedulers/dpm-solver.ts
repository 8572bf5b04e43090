/**
 * DPM-Solver++ multistep (Lu et al. 2022), data prediction, midpoint second-order update, ε-prediction; matches
 * diffusers' DPMSolverMultistepScheduler with its defaults ("DPM++ 2M").
 */
import { HgcError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { type ResolvedBase, checkPair, checkSample, checkStepIndex, checkSteps, combine, resolveBase } from './base.js';
import { History } from './history.js';
import { type FinalSigmasType, alphaSigma, inferenceSigmas, lambdaOf, trainingSigmas } from './sigmas.js';
import { multistepTimesteps } from './spacing.js';
import type { BaseSchedulerConfig, Scheduler, StepResult } from './types.js';

/** DPM-Solver++ settings. */
export interface DPMSolverConfig extends BaseSchedulerConfig {
  /** 1 (DPM++ 1S, i.e. DDIM-like) or 2 (default). */
  solverOrder?: 1 | 2;
  /** Use the first-order update on the last step when there are fewer than 15 steps (default true). */
  lowerOrderFinal?: boolean;
  /** σ after the last step (default 'zero', which also forces a first-order last step). */
  finalSigmasType?: FinalSigmasType;
}

/** The DPM-Solver++ 2M sampler. Timesteps are integers (999, 949, …, 50 for 20 'linspace' steps). */
export class DPMSolverMultistepScheduler implements Scheduler {
  readonly name = 'dpmpp-2m' as const;
  readonly initNoiseSigma = 1;
  readonly alphasCumprod: readonly number[];
  #base: ResolvedBase;
  #order: 1 | 2;
  #lowerOrderFinal: boolean;
  #finalType: FinalSigmasType;
  #trainSigmas: number[];
  #timesteps: number[] = [];
  #sigmas: number[] = [];
  #history: History;

  constructor(config?: DPMSolverConfig) {
    this.#base = resolveBase(config, 'linspace', 'DPMSolverMultistepScheduler');
    const order = config?.solverOrder ?? 2;
    if (order !== 1 && order !== 2) {
      throw new HgcError('ARG', `DPMSolverMultistepScheduler: solverOrder must be 1 or 2, got ${String(order)}`);
    }
    this.#order = order;
    this.#lowerOrderFinal = config?.lowerOrderFinal ?? true;
    this.#finalType = config?.finalSigmasType ?? 'zero';
    this.alphasCumprod = this.#base.alphasCumprod;
    this.#trainSigmas = trainingSigmas(this.alphasCumprod);
    this.#history = new History(order);
  }

  get timesteps(): readonly number[] {
    return this.#timesteps;
  }

  /** σ at each step plus the final one (N + 1 values). */
  get sigmas(): readonly number[] {
    return this.#sigmas;
  }

  setTimesteps(numSteps: number): void {
    const b = this.#base;
    checkSteps(numSteps, b.numTrainTimesteps, 'DPMSolverMultistepScheduler.setTimesteps');
    const ts = multistepTimesteps(b.timestepSpacing, b.numTrainTimesteps, numSteps, b.stepsOffset);
    this.#sigmas = inferenceSigmas(ts, this.#trainSigmas, this.#finalType, 'DPMSolverMultistepScheduler');
    this.#timesteps = ts;
    this.reset();
  }

  reset(): void {
    this.#history.clear();
  }

  scaleModelInput(sample: Tensor, stepIndex: number): Tensor {
    checkSample(sample, 'DPMSolverMultistepScheduler.scaleModelInput');
    checkStepIndex(stepIndex, this.#timesteps.length, 'DPMSolverMultistepScheduler.scaleModelInput');
    return sample.clone();
  }

  step(modelOutput: Tensor, stepIndex: number, sample: Tensor): Tensor {
    const r = this.stepWithPrediction(modelOutput, stepIndex, sample);
    r.predOriginalSample.dispose();
    return r.prevSample;
  }

  stepWithPrediction(modelOutput: Tensor, stepIndex: number, sample: Tensor): StepResult {
    const who = 'DPMSolverMultistepScheduler.step';
    checkPair(modelOutput, sample, who);
    checkStepIndex(stepIndex, this.#timesteps.length, who);
    const h = this.#history;
    h.begin(stepIndex, sample, who);
    const n = this.#timesteps.length;
    const sigmaS0 = this.#sigmas[stepIndex]!, sigmaT = this.#sigmas[stepIndex + 1]!;
    // x₀ = (x − σ_t·ε) / α_t
    const s0 = alphaSigma(sigmaS0);
    const x0 = combine([1 / s0.alpha, sample], [-s0.sigmaT / s0.alpha, modelOutput]);
    h.push(x0, stepIndex);

    const lowerOrderFinal = stepIndex === n - 1 && ((this.#lowerOrderFinal && n < 15) || this.#finalType === 'zero');
    const t = alphaSigma(sigmaT);
    const hStep = lambdaOf(sigmaT) - lambdaOf(sigmaS0);
    const c = -t.alpha * Math.expm1(-hStep);  // −α_t (e^{−h} − 1)
    let prevSample: Tensor;
    if (this.#order === 1 || h.warmSteps < 1 || lowerOrderFinal) {
      // x_t = (σ_t/σ_s)·x − α_t(e^{−h} − 1)·x₀
      prevSample = combine([t.sigmaT / s0.sigmaT, sample], [c, x0]);
    } else {
      // midpoint: D1 = (m0 − m1)/r0, x_t = (σ_t/σ_s0)·x − α_t(e^{−h} − 1)·(m0 + D1/2)
      const m1 = h.outputs[h.outputs.length - 2]!;
      const r0 = (lambdaOf(sigmaS0) - lambdaOf(this.#sigmas[stepIndex - 1]!)) / hStep;
      prevSample = combine([t.sigmaT / s0.sigmaT, sample], [c * (1 + 0.5 / r0), x0], [-c * 0.5 / r0, m1]);
    }
    h.finish();
    return { prevSample, predOriginalSample: x0.clone() };
  }
}
