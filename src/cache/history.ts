/**
 * Feature history for cached steps: keeps the last few stored values of a cached feature (h_b, the probe, the
 * ControlNet residuals) with the step each came from, and serves a reusing step either the newest value ('hold')
 * or its polynomial extrapolation to that step through the last two ('linear') or three ('quadratic') values
 * (Lagrange form along a coordinate the caller chooses: the step index by default, or σ / log-SNR, see
 * reuse-axis.ts). Extrapolation is elementwise, so it adds no MACs under either convention.
 */
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { matchBatch } from './batch.js';
import type { StepPlan } from './policy.js';
import type { CacheStore } from './store.js';

/** How many older values each reuse mode needs beside the newest. */
export function reuseOrder(reuse: StepPlan['reuse']): number {
  return reuse === 'quadratic' ? 2 : reuse === 'linear' ? 1 : 0;
}

/** Lagrange weights of nodes `steps` evaluated at `at`: Σ w_j·x_j is the polynomial through (steps_j, x_j). */
export function lagrangeWeights(steps: readonly number[], at: number): number[] {
  return steps.map((sj, j) => steps.reduce((w, sm, m) => (m === j ? w : (w * (at - sm)) / (sj - sm)), 1));
}

const kMaxOrder = 2;

/** The last few stored values of each cached feature, with their steps; serves held or extrapolated values. */
export class FeatureHistory {
  /** Newest first: the steps of `key`, `key.h1`, `key.h2`, and their positions on the extrapolation axis. */
  #steps = new Map<string, { step: number; at: number }[]>();

  /** @param store The generation's cache store that holds the values (keys `k`, `k.h1`, `k.h2`). */
  constructor(readonly store: CacheStore) {}

  /**
   * Stores `t` as the newest value of `key` at `step` (position `at` on the extrapolation axis, default the step
   * itself), keeping `order` older values (fewer if the budget says no).
   */
  keep(key: string, t: Tensor, step: number, order: number, at = step): void {
    const before = this.#steps.get(key) ?? [];
    let older: { step: number; at: number }[];
    if (before.length > 0 && before[0]!.step >= step) {
      older = before.slice(1, order + 1);  // stored again in the same step: replace the newest only
    } else {
      // Shift key.h(j−1) → key.h(j), oldest first; a copy the budget refuses ends the usable history there.
      const n = Math.min(order, before.length);
      const ok: boolean[] = [];
      for (let j = n; j >= 1; j--) {
        const old = this.store.get(slot(key, j - 1));
        ok[j] = old !== undefined && this.store.put(slot(key, j), old);
        old?.dispose();
      }
      let valid = 0;
      while (valid < n && ok[valid + 1]) valid++;
      older = before.slice(0, valid);
    }
    for (let j = older.length + 1; j <= kMaxOrder; j++) this.store.release(slot(key, j));
    if (this.store.put(key, t)) this.#steps.set(key, [{ step, at }, ...older]);
    else this.#steps.delete(key);
  }

  /**
   * The value of `key` for a reusing step at position `at` (on the axis `keep` was given) at `batch` (a new tensor
   * owned by the caller), or undefined.
   */
  reuse(key: string, batch: number, at: number, order: number): Tensor | undefined {
    const steps = (this.#steps.get(key) ?? []).slice(0, order + 1).map((e) => e.at);
    const values: Tensor[] = [];
    for (let j = 0; j < steps.length; j++) {
      const t = this.store.get(slot(key, j));
      const m = t && matchBatch(t, batch);
      t?.dispose();
      if (!m) break;
      values.push(m);
    }
    if (values.length <= 1) return values[0];
    const w = lagrangeWeights(steps.slice(0, values.length), at);
    const out = tidy(() => values.slice(1).reduce((acc, v, j) => ops.add(acc, ops.scale(v, w[j + 1]!)), ops.scale(values[0]!, w[0]!)));
    values.forEach((v) => v.dispose());
    return out;
  }
}

function slot(key: string, j: number): string {
  return j === 0 ? key : `${key}.h${j}`;
}
