/**
 * UniPC multistep (Zhao et al. 2023): UniP predictor plus UniC corrector on x₀ (data) predictions, B(h) variant
 * 'bh2' by default, ε-prediction; matches diffusers' UniPCMultistepScheduler with its defaults.
 */
import { HgcError } from '../errors.js';
import { keep } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { type ResolvedBase, checkPair, checkSample, checkStepIndex, checkSteps, combine, resolveBase } from './base.js';
import { History } from './history.js';
import { type FinalSigmasType, alphaSigma, inferenceSigmas, lambdaOf, trainingSigmas } from './sigmas.js';
import { multistepTimesteps } from './spacing.js';
import type { BaseSchedulerConfig, Scheduler, StepResult } from './types.js';

/** UniPC settings. */
export interface UniPCConfig extends BaseSchedulerConfig {
  /** 1 or 2 (default). */
  solverOrder?: 1 | 2;
  /** B(h) = e^h − 1 ('bh2', default) or h ('bh1'). */
  solverType?: 'bh1' | 'bh2';
  /** Lower the order on the last steps (default true). */
  lowerOrderFinal?: boolean;
  /** σ after the last step (default 'zero'). */
  finalSigmasType?: FinalSigmasType;
}

/** The UniPC sampler. Timesteps are integers (999, 949, …, 50 for 20 'linspace' steps). */
export class UniPCMultistepScheduler implements Scheduler {
  readonly name = 'unipc' as const;
  readonly initNoiseSigma = 1;
  readonly alphasCumprod: readonly number[];
  #base: ResolvedBase;
  #order: 1 | 2;
  #bh2: boolean;
  #lowerOrderFinal: boolean;
  #finalType: FinalSigmasType;
  #trainSigmas: number[];
  #timesteps: number[] = [];
  #sigmas: number[] = [];
  #history: History;
  /** The (corrected) sample the last predictor started from, owned here. */
  #lastSample: Tensor | null = null;
  /** The order of the last predictor step, which the next corrector reuses. */
  #thisOrder = 1;

  constructor(config?: UniPCConfig) {
    const who = 'UniPCMultistepScheduler';
    this.#base = resolveBase(config, 'linspace', who);
    const order = config?.solverOrder ?? 2;
    if (order !== 1 && order !== 2) throw new HgcError('ARG', `${who}: solverOrder must be 1 or 2, got ${String(order)}`);
    const type = config?.solverType ?? 'bh2';
    if (type !== 'bh1' && type !== 'bh2') throw new HgcError('ARG', `${who}: solverType must be 'bh1' or 'bh2', got '${String(type)}'`);
    this.#order = order;
    this.#bh2 = type === 'bh2';
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
    checkSteps(numSteps, b.numTrainTimesteps, 'UniPCMultistepScheduler.setTimesteps');
    const ts = multistepTimesteps(b.timestepSpacing, b.numTrainTimesteps, numSteps, b.stepsOffset);
    this.#sigmas = inferenceSigmas(ts, this.#trainSigmas, this.#finalType, 'UniPCMultistepScheduler');
    this.#timesteps = ts;
    this.reset();
  }

  reset(): void {
    this.#history.clear();
    this.#lastSample?.dispose();
    this.#lastSample = null;
    this.#thisOrder = 1;
  }

  scaleModelInput(sample: Tensor, stepIndex: number): Tensor {
    checkSample(sample, 'UniPCMultistepScheduler.scaleModelInput');
    checkStepIndex(stepIndex, this.#timesteps.length, 'UniPCMultistepScheduler.scaleModelInput');
    return sample.clone();
  }

  step(modelOutput: Tensor, stepIndex: number, sample: Tensor): Tensor {
    const r = this.stepWithPrediction(modelOutput, stepIndex, sample);
    r.predOriginalSample.dispose();
    return r.prevSample;
  }

  stepWithPrediction(modelOutput: Tensor, stepIndex: number, sample: Tensor): StepResult {
    const who = 'UniPCMultistepScheduler.step';
    checkPair(modelOutput, sample, who);
    checkStepIndex(stepIndex, this.#timesteps.length, who);
    const h = this.#history;
    h.begin(stepIndex, sample, who);
    if (h.outputs.length === 0) this.reset();
    const s = alphaSigma(this.#sigmas[stepIndex]!);
    const x0 = combine([1 / s.alpha, sample], [-s.sigmaT / s.alpha, modelOutput]);
    // UniC: correct this step's input with the new x₀ before predicting from it.
    const x = this.#lastSample !== null ? this.#correct(x0, this.#lastSample, stepIndex) : sample.clone();
    h.push(x0, stepIndex);
    const n = this.#timesteps.length;
    // With σ = 0 after the last step only the first-order update is finite (diffusers would produce inf there).
    const lastToZero = stepIndex === n - 1 && this.#sigmas[n] === 0;
    const order = this.#lowerOrderFinal || lastToZero ? Math.min(this.#order, n - stepIndex) : this.#order;
    this.#thisOrder = Math.min(order, h.warmSteps + 1);
    this.#lastSample?.dispose();
    this.#lastSample = keep(x);
    const prevSample = this.#predict(x, stepIndex, this.#thisOrder);
    h.finish();
    return { prevSample, predOriginalSample: x0.clone() };
  }

  /** B(h) for ĥ = −h. */
  #bh(hh: number): number {
    return this.#bh2 ? Math.expm1(hh) : hh;
  }

  /** UniP: x_t from x at step i with the stored x₀ history. */
  #predict(x: Tensor, i: number, order: number): Tensor {
    const outs = this.#history.outputs;
    const m0 = outs[outs.length - 1]!;
    const sigmaT = this.#sigmas[i + 1]!, sigmaS0 = this.#sigmas[i]!;
    const t = alphaSigma(sigmaT), s0 = alphaSigma(sigmaS0);
    const lambdaS0 = lambdaOf(sigmaS0);
    const hStep = lambdaOf(sigmaT) - lambdaS0;
    const hh = -hStep;
    const hPhi1 = Math.expm1(hh);
    const base: [number, Tensor][] = [[t.sigmaT / s0.sigmaT, x], [-t.alpha * hPhi1, m0]];
    if (order === 1) return combine(...base);
    // Order 2: D1 = (m1 − m0)/r1 with weight ρ = 1/2, x_t = base − α_t·B(h)·ρ·D1.
    const m1 = outs[outs.length - 2]!;
    const r1 = (lambdaOf(this.#sigmas[i - 1]!) - lambdaS0) / hStep;
    const k = t.alpha * this.#bh(hh) * 0.5 / r1;
    base[1]![0] += k;
    return combine(...base, [-k, m1]);
  }

  /** UniC: the corrected sample at step i from the previous step's input `x` and the new x₀ `modelT`. */
  #correct(modelT: Tensor, x: Tensor, i: number): Tensor {
    const order = this.#thisOrder;
    const outs = this.#history.outputs;
    const m0 = outs[outs.length - 1]!;
    const sigmaT = this.#sigmas[i]!, sigmaS0 = this.#sigmas[i - 1]!;
    const t = alphaSigma(sigmaT), s0 = alphaSigma(sigmaS0);
    const lambdaS0 = lambdaOf(sigmaS0);
    const hStep = lambdaOf(sigmaT) - lambdaS0;
    const hh = -hStep;
    const hPhi1 = Math.expm1(hh);
    const bh = this.#bh(hh);
    // b_k = k!·φ_k(ĥ)-type coefficients / B(h), as UniC's linear system needs.
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    const b: number[] = [];
    for (let k = 1; k <= order; k++) {
      b.push(hPhiK * factorial / bh);
      factorial *= k + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    const scaleT = t.alpha * bh;
    const terms: [number, Tensor][] = [[t.sigmaT / s0.sigmaT, x], [-t.alpha * hPhi1, m0]];
    let rhoLast: number;
    if (order === 1) {
      rhoLast = 0.5;
    } else {
      // Solve [[1, 1], [r1, 1]]·ρ = b for the weights of D1 = (m1 − m0)/r1 and of D1_t = model_t − m0.
      const m1 = outs[outs.length - 2]!;
      const r1 = (lambdaOf(this.#sigmas[i - 2]!) - lambdaS0) / hStep;
      const det = 1 - r1;
      const rho0 = (b[0]! - b[1]!) / det;
      rhoLast = (b[1]! - r1 * b[0]!) / det;
      const k = scaleT * rho0 / r1;
      terms[1]![0] += k;
      terms.push([-k, m1]);
    }
    terms[1]![0] += scaleT * rhoLast;
    terms.push([-scaleT * rhoLast, modelT]);
    return combine(...terms);
  }
}
