/** @internal What the schedulers share: resolved config, alphas, argument checks and linear combinations. */
import { HgcError } from '../errors.js';
import { add, scale } from '../ops/elementwise.js';
import { type Tensor } from '../tensor.js';
import { alphasCumprod, makeBetas } from './betas.js';
import type { TimestepSpacing } from './spacing.js';
import type { BaseSchedulerConfig } from './types.js';

/** The shared config with defaults filled in. */
export interface ResolvedBase {
  numTrainTimesteps: number;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  alphasCumprod: number[];
}

/** Fills the SD1.5 defaults, validates them and computes ᾱ. */
export function resolveBase(config: BaseSchedulerConfig | undefined, defaultSpacing: TimestepSpacing, who: string): ResolvedBase {
  if (config !== undefined && (typeof config !== 'object' || config === null)) {
    throw new HgcError('ARG', `${who}: config must be an object`);
  }
  const c = config ?? {};
  const numTrainTimesteps = c.numTrainTimesteps ?? 1000;
  if (!Number.isInteger(numTrainTimesteps) || numTrainTimesteps < 2) {
    throw new HgcError('ARG', `${who}: numTrainTimesteps must be an integer ≥ 2, got ${String(numTrainTimesteps)}`);
  }
  const betaStart = c.betaStart ?? 0.00085, betaEnd = c.betaEnd ?? 0.012;
  if (!(betaStart > 0 && betaEnd > 0 && betaStart < 1 && betaEnd < 1)) {
    throw new HgcError('ARG', `${who}: betaStart and betaEnd must lie in (0, 1), got ${String(betaStart)} and ${String(betaEnd)}`);
  }
  const stepsOffset = c.stepsOffset ?? 1;
  if (!Number.isInteger(stepsOffset) || stepsOffset < 0) {
    throw new HgcError('ARG', `${who}: stepsOffset must be a non-negative integer, got ${String(stepsOffset)}`);
  }
  const betas = makeBetas(c.betaSchedule ?? 'scaled_linear', betaStart, betaEnd, numTrainTimesteps);
  return { numTrainTimesteps, timestepSpacing: c.timestepSpacing ?? defaultSpacing, stepsOffset, alphasCumprod: alphasCumprod(betas) };
}

/** ARG unless 1 ≤ steps ≤ numTrainTimesteps. */
export function checkSteps(steps: unknown, numTrainTimesteps: number, who: string): asserts steps is number {
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > numTrainTimesteps) {
    throw new HgcError('ARG', `${who}: steps must be an integer from 1 to ${numTrainTimesteps}, got ${String(steps)}`);
  }
}

/** ARG unless `stepIndex` indexes `timesteps` (and setTimesteps was called). */
export function checkStepIndex(stepIndex: unknown, numSteps: number, who: string): asserts stepIndex is number {
  if (numSteps === 0) throw new HgcError('ARG', `${who}: call setTimesteps(numSteps) before stepping`);
  if (typeof stepIndex !== 'number' || !Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= numSteps) {
    throw new HgcError('ARG', `${who}: stepIndex must be an integer from 0 to ${numSteps - 1}, got ${String(stepIndex)}`);
  }
}

function isTensor(t: unknown): t is Tensor {
  return t !== null && typeof t === 'object' && (t as { isTensor?: unknown }).isTensor === true;
}

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

/** ARG unless both are tensors; SHAPE unless their shapes are equal. */
export function checkPair(modelOutput: unknown, sample: unknown, who: string): asserts modelOutput is Tensor {
  if (!isTensor(modelOutput)) throw new HgcError('ARG', `${who}: modelOutput must be a Tensor`);
  if (!isTensor(sample)) throw new HgcError('ARG', `${who}: sample must be a Tensor`);
  const a = modelOutput.shape, b = sample.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new HgcError('SHAPE', `${who}: modelOutput ${shapeText(a)} and sample ${shapeText(b)} must have the same shape`);
  }
}

/** ARG unless `sample` is a tensor. */
export function checkSample(sample: unknown, who: string): asserts sample is Tensor {
  if (!isTensor(sample)) throw new HgcError('ARG', `${who}: sample must be a Tensor`);
}

/** Σ cᵢ·xᵢ as a new tensor (terms with a zero coefficient are skipped; at least one term must be given). */
export function combine(...terms: [number, Tensor][]): Tensor {
  const live = terms.filter(([c]) => c !== 0);
  if (live.length === 0) return scale(terms[0]![1], 0);
  let acc = scale(live[0]![1], live[0]![0]);
  for (let i = 1; i < live.length; i++) {
    const term = scale(live[i]![1], live[i]![0]);
    const next = add(acc, term);
    acc.dispose();
    term.dispose();
    acc = next;
  }
  return acc;
}
