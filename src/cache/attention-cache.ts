/**
 * The fine-grained cache: routes cross-attention layers of G and C through the step's plan. K/V projections of
 * the text are computed once per generation (exact). 'capture' keeps a layer's output (and its mean over the CFG
 * halves, for the gate; and its probability map when maps are replayed); 'replay' and 'fused' serve those.
 */
import type { Attention, CrossAttentionController } from '../models/attention.js';
import * as ops from '../ops/index.js';
import { zeros } from '../creation.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import type { CrossAttentionMode, StepPlan } from './policy.js';
import type { CacheStore } from './store.js';
import { meanOfHalves } from './batch.js';

/**
 * The cross-attention controller a cached generation installs: serves every cross-attention layer of the UNet and the
 * ControlNet according to the current step's plan, keeping what it captures in the {@link CacheStore}.
 */
export class AttentionCache implements CrossAttentionController {
  /** The plan of the step being run (set before each step); undefined computes every layer normally. */
  plan: StepPlan | undefined;
  /** Keys the current step wanted but did not find. */
  misses: string[] = [];
  /** @param store - Where text K/V, captured outputs, fused outputs and maps are kept. */
  constructor(private readonly store: CacheStore) {}

  /**
   * Runs one cross-attention layer in the mode the plan gives it (per-layer override first): compute, capture,
   * replay or fused. A replay or fused request with nothing usable in the store is recorded in `misses` and computed
   * (with capture) instead.
   */
  crossAttention(m: Attention, x: Tensor, context: Tensor, residual: Tensor): Tensor {
    const plan = this.plan;
    const mode: CrossAttentionMode = plan ? plan.crossAttentionLayer?.(m.path) ?? plan.crossAttention : 'compute';
    const batch = x.shape[0]!;
    if (mode === 'fused' || mode === 'replay') {
      const served = mode === 'fused' ? this.#fused(m, batch, residual) : this.#replay(m, x, context, residual, plan?.replayMaps ?? false);
      if (served) return served;
      this.misses.push(`${m.path}:${mode}`);
    }
    return this.#compute(m, x, context, residual, mode === 'compute' ? false : true, plan?.replayMaps ?? false);
  }

  /** K and V of the text context, computed once per generation and batch size. */
  #keysValues(m: Attention, context: Tensor): { k: Tensor; v: Tensor } {
    const tag = `${m.path}:kv${context.shape[0]}`;
    const k = this.store.get(`${tag}:k`), v = this.store.get(`${tag}:v`);
    if (k && v) return { k, v };
    k?.dispose();
    v?.dispose();
    const kv = m.keysValues(context);
    this.store.put(`${tag}:k`, kv.k);
    this.store.put(`${tag}:v`, kv.v);
    return kv;
  }

  #compute(m: Attention, x: Tensor, context: Tensor, residual: Tensor, capture: boolean, maps: boolean): Tensor {
    return tidy(() => {
      const { k, v } = this.#keysValues(m, context);
      const q = m.query(x);
      let probs: Tensor | undefined;
      if (capture && maps) probs = zeros([x.shape[0]!, m.heads, x.shape[1]!, k.shape[1]!], { device: x.device });
      const o = ops.attention(q, k, v, { heads: m.heads, mode: probs ? 'capture' : 'compute', probs });
      const out = m.output(o);
      if (capture) {
        this.store.put(`${m.path}:out`, out);
        if (probs) this.store.put(`${m.path}:map`, probs);
        if (out.shape[0] === 2) this.store.put(`${m.path}:fused`, meanOfHalves(out));
      }
      return ops.add(out, residual);
    });
  }

  #replay(m: Attention, x: Tensor, context: Tensor, residual: Tensor, maps: boolean): Tensor | undefined {
    const batch = x.shape[0]!;
    if (maps) {
      const probs = this.store.get(`${m.path}:map`);
      if (!probs || probs.shape[0] !== batch) {
        probs?.dispose();
        return undefined;
      }
      return tidy(() => {
        const { v } = this.#keysValues(m, context);
        const o = ops.attention(null, null, v, { heads: m.heads, mode: 'replay', probs });
        return m.output(o, residual);
      });
    }
    const out = this.store.get(`${m.path}:out`);
    if (!out) return undefined;
    try {
      if (out.shape[0] === batch) return ops.add(out, residual);
      if (out.shape[0] === 2 && batch === 1) return tidy(() => ops.add(meanOfHalves(out), residual));
      return undefined;
    } finally {
      out.dispose();
    }
  }

  #fused(m: Attention, batch: number, residual: Tensor): Tensor | undefined {
    if (batch !== 1) return undefined;
    const fused = this.store.get(`${m.path}:fused`);
    if (!fused) return undefined;
    try {
      return ops.add(fused, residual);
    } finally {
      fused.dispose();
    }
  }
}
