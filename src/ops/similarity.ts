/**
 * Whole-tensor similarity reductions, accumulated in double: the feature-drift probes of cache policies.
 * They return numbers, so they need data (a meta tensor gives HgcError DEVICE).
 */
import { check } from '../errors.js';
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import { commonDType, commonDevice, requireTensor, sameShape, shapeStr } from './common.js';

function pair(op: string, a: Tensor, b: Tensor): void {
  requireTensor(a, `${op}: a`);
  requireTensor(b, `${op}: b`);
  commonDevice(op, a, b);
  commonDType(op, a, b);
  check(sameShape(a.shape, b.shape), 'SHAPE', () => `${op}: shapes differ: ${shapeStr(a.shape)} vs ${shapeStr(b.shape)}`);
}

/** Σ|a|. */
export function l1Norm(a: Tensor): number {
  requireTensor(a, 'l1Norm: a');
  return native.reduce(a.handle, null, 'l1');
}

/** Σ|a − b| / Σ|b| (the drift of a against reference b). */
export function relativeL1(a: Tensor, b: Tensor): number {
  pair('relativeL1', a, b);
  return native.reduce(a.handle, b.handle, 'relativeL1');
}

/** Σab / (‖a‖·‖b‖). */
export function cosineSimilarity(a: Tensor, b: Tensor): number {
  pair('cosineSimilarity', a, b);
  return native.reduce(a.handle, b.handle, 'cosine');
}
