/**
 * One generation under a cache policy: runs each step as its plan says, keeping what later steps reuse in the
 * cache store (h_b, the probe f_r, ControlNet residuals, encoder outputs, attention results) and falling back
 * to computing whenever something is missing — a plan can make a step cheaper, never wrong.
 */
import type { ControlNetModel } from '../models/controlnet.js';
import { withCrossAttentionController } from '../models/attention.js';
import type { Residuals, UNet2DConditionModel } from '../models/unet.js';
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { AttentionCache } from './attention-cache.js';
import { guide, matchBatch } from './batch.js';
import type { StepGraphs } from '../graph/step-graphs.js';
import type { CachePolicy, StepContext, StepObservation, StepPlan } from './policy.js';
import { FeatureHistory, reuseOrder } from './history.js';
import { reusePosition } from './reuse-axis.js';
import type { CacheStore } from './store.js';

/** A ControlNet prepared for a generation: its conditioning embeddings at batch 2 and 1 (exact caches). */
export interface PreparedControl {
  /** The ControlNet. */
  model: ControlNetModel;
  /** Its conditioning embedding of the control image at batch 2 (CFG), when the generation uses CFG. */
  emb2?: Tensor;
  /** Its conditioning embedding at batch 1 (no CFG, or after the gate). */
  emb1: Tensor;
  /** conditioning_scale: multiplies every residual. */
  scale: number;
  /** diffusers' guess mode: residuals scaled from 0.1 (shallowest) to 1 (mid). */
  guessMode: boolean;
}

/** Inputs of one step. */
export interface StepInputs {
  /** The UNet (G). */
  unet: UNet2DConditionModel;
  /** The ControlNets (C), their residuals summed; empty for plain SD. */
  controls: PreparedControl[];
  /** Scaled model input [1, C, h, w]. */
  x: Tensor;
  /** The scheduler's timestep of this step. */
  timestep: number;
  /** [uncond, cond] text at batch 2 (when CFG is used) and cond alone. */
  context2?: Tensor;
  /** The conditional text embedding alone [1, 77, dim] (batch 1 steps). */
  context1: Tensor;
  /** CFG scale w: eps_u + w·(eps_c − eps_u). */
  guidance: number;
  /** CUDA graphs of the generation: steps whose plan can be captured run through them (see graphedStep). */
  graphs?: StepGraphs;
}

/**
 * Runs the steps of one generation under a policy's plans: which parts of G and C run, what is stored in the
 * cache store and what is reused from it (with the plan's reuse rule), and what each step observed.
 */
export class CachedGeneration {
  /** The cross-attention controller of this generation (capture/replay/fused outputs and maps). */
  readonly attention: AttentionCache;
  #lastFull = -1;
  #history: FeatureHistory;

  /**
   * @param store Where cached features live for this generation (released by the caller at the end).
   * @param policy The policy whose decide() answers `{ kind: 'auto' }` steps.
   */
  constructor(readonly store: CacheStore, readonly policy: CachePolicy) {
    this.attention = new AttentionCache(store);
    this.#history = new FeatureHistory(store);
  }

  /** Runs a step; returns the guided noise prediction [1, C, h, w] and what the step observed. */
  step(ctx: StepContext, plan: StepPlan, inp: StepInputs): {
    /** The guided noise prediction [1, C, h, w] (owned by the caller). */
    eps: Tensor;
    /** What the step measured, for the policy's observe(). */
    obs: StepObservation;
  } {
    const batch = plan.cfg && inp.context2 ? 2 : 1;
    const misses: string[] = [];
    let full = true;
    let drift: number | undefined;
    let deepDrift: number | undefined;
    this.attention.plan = plan;
    this.attention.misses = [];
    const graphed = inp.graphs && graphable(plan, this.store) ? this.#graphedStep(ctx, plan, inp, inp.graphs) : undefined;
    if (graphed) {
      if (graphed.obs.full) this.#lastFull = ctx.index;
      this.attention.plan = undefined;
      return graphed;
    }
    const eps = tidy(() => {
      const xb = batch === 2 ? ops.concat([inp.x, inp.x], 0) : inp.x;
      const context = batch === 2 ? inp.context2! : inp.context1;
      const runControls = (): Residuals | undefined => this.#runControls(inp, xb, context, batch, ctx, plan);
      const cachedResiduals = (count: number): Residuals | undefined => {
        const down: Tensor[] = [];
        for (let i = 0; i < count; i++) {
          const r = this.#reused(`cn.res.${i}`, batch, ctx, plan);
          if (!r) return undefined;
          down.push(r);
        }
        return { down };
      };
      const residuals = inp.controls.length === 0 ? undefined : (mode: 'full' | 'shallow'): Residuals | undefined => {
        if (mode === 'shallow' && plan.controlnet === 'reuse') {
          const r = cachedResiduals(branchOf(plan)! + 1);
          if (r) return r;
          misses.push('controlnet residuals');
        }
        if (mode === 'full' && plan.controlnet === 'reuse' && plan.block.kind === 'full') {
          const r = cachedResiduals(inp.unet.branchCount + 1);
          const mid = this.#reused('cn.mid', batch, ctx, plan);
          if (r && mid) return { down: r.down, mid };
          misses.push('controlnet residuals');
        }
        return runControls();
      };
      let out: Tensor;
      if (plan.block.kind === 'decoder') {
        const cached = this.#encoder(inp.unet.branchCount + 1, batch);
        if (cached) {
          full = false;
          return withCrossAttentionController(this.attention, () =>
            this.#guide(inp.unet.forward(xb, inp.timestep, context, { encoder: { cached } }), batch, inp.guidance));
        }
        misses.push('encoder outputs');
      }
      const b = branchOf(plan);
      const branch = b === undefined ? undefined : {
        index: b,
        decide: (probe: Tensor): Tensor | undefined => {
          // Drift against what a cached step would assume: the stored probe, or its extrapolation with reuse 'linear'.
          // The probe is kept at storeBranch only: a step cut at another branch measures no drift.
          const ref = probe.device === 'meta' || b !== plan.storeBranch ? undefined : this.#reused('probe', batch, ctx, plan);  // meta: no data
          if (ref) {
            drift = ops.relativeL1(probe, ref);
            ref.dispose();
          }
          let wantShallow = plan.block.kind === 'shallow';
          if (plan.block.kind === 'auto') wantShallow = drift !== undefined && !(this.policy.decide?.(ctx, drift) ?? true);
          if (wantShallow) {
            const deep = this.#reused(`deep.${b}`, batch, ctx, plan);
            if (deep) {
              full = false;
              return deep;
            }
            misses.push('deep feature h_b');
          }
          if (plan.storeBranch === b) this.#keep('probe', probe, ctx, plan);
          return undefined;
        },
        storeAt: plan.storeBranch === b ? [b, ...(plan.storeBranches ?? []).filter((k) => k !== b)] : [],
        store: plan.storeBranch === b ? (deep: Tensor, at: number) => {
          if (deep.device !== 'meta' && at === b) {
            const prev = this.#get(`deep.${at}`, batch);
            if (prev) {
              deepDrift = ops.relativeL1(deep, prev);
              prev.dispose();
            }
          }
          this.#keep(`deep.${at}`, deep, ctx, plan);
        } : undefined,
      };
      const encoder = plan.storeEncoder ? {
        store: (skips: readonly Tensor[], mid: Tensor) => {
          skips.forEach((s, i) => this.store.put(`enc.skip.${i}`, s));
          this.store.put('enc.mid', mid);
        },
      } : undefined;
      out = withCrossAttentionController(this.attention, () =>
        inp.unet.forward(xb, inp.timestep, context, { branch, encoder, residuals }));
      return this.#guide(out, batch, inp.guidance);
    });
    if (full) this.#lastFull = ctx.index;
    misses.push(...this.attention.misses);
    this.attention.plan = undefined;
    return { eps, obs: { full, drift, deepDrift, misses } };
  }

  /** Index of the last step G ran fully (−1 before any). */
  get lastFullStep(): number {
    return this.#lastFull;
  }

  #guide(eps: Tensor, batch: number, guidance: number): Tensor {
    return batch === 1 ? eps : guide(eps, guidance);
  }

  /** A cached tensor at `batch` (owned by the caller), or undefined. */
  #get(key: string, batch: number): Tensor | undefined {
    const t = this.store.get(key);
    if (!t) return undefined;
    const m = matchBatch(t, batch);
    t.dispose();
    return m;
  }

  #keep(key: string, t: Tensor, ctx: StepContext, plan: StepPlan): void {
    const order = reuseOrder(plan.reuse);
    this.#history.keep(key, t, ctx.index, order, order > 0 ? reusePosition(ctx, plan.reuseAxis) : ctx.index);
  }

  /**
   * A cached tensor for a reusing step at `batch`: as stored, or extrapolated to this step (plan.reuse, along
   * plan.reuseAxis; a policy should keep one axis for a whole generation).
   */
  #reused(key: string, batch: number, ctx: StepContext, plan: StepPlan): Tensor | undefined {
    const order = reuseOrder(plan.reuse);
    return this.#history.reuse(key, batch, order > 0 ? reusePosition(ctx, plan.reuseAxis) : ctx.index, order);
  }

  #encoder(skips: number, batch: number): { skips: Tensor[]; mid: Tensor } | undefined {
    const mid = this.#get('enc.mid', batch);
    if (!mid) return undefined;
    const out: Tensor[] = [];
    for (let i = 0; i < skips; i++) {
      const s = this.#get(`enc.skip.${i}`, batch);
      if (!s) return undefined;
      out.push(s);
    }
    return { skips: out, mid };
  }

  #runControls(inp: StepInputs, xb: Tensor, context: Tensor, batch: number, ctx: StepContext, plan: StepPlan): Residuals {
    const { down, mid } = this.#controlsForward(inp, xb, context, batch);
    if (plan.storeResiduals) {
      down.forEach((d, i) => this.#keep(`cn.res.${i}`, d, ctx, plan));
      this.#keep('cn.mid', mid, ctx, plan);
    }
    return { down, mid };
  }

  /** The ControlNets' summed residuals; `tembs[k]` is ControlNet k's time embedding (computed here when absent). */
  #controlsForward(inp: StepInputs, xb: Tensor, context: Tensor, batch: number, tembs?: readonly Tensor[]): { down: Tensor[]; mid: Tensor } {
    let down: Tensor[] | undefined;
    let mid: Tensor | undefined;
    withCrossAttentionController(this.attention, () => {
      inp.controls.forEach((c, k) => {
        const emb = batch === 2 ? c.emb2! : c.emb1;
        const r = c.model.forward(xb, inp.timestep, context, null, { conditioningScale: c.scale, guessMode: c.guessMode, condEmbedding: emb, temb: tembs?.[k] });
        if (!down) {
          down = r.down;
          mid = r.mid;
        } else {
          down = down.map((d, k) => ops.add(d, r.down[k]!));
          mid = ops.add(mid!, r.mid);
        }
      });
    });
    return { down: down!, mid: mid! };
  }

  /**
   * A step through the generation's CUDA graphs (plans that {@link graphable} accepts): the cache reads happen
   * eagerly first (the reused h_b and ControlNet residuals, with the plan's reuse rule, become inputs of the graph,
   * like the latents and the time embeddings); the graph runs ControlNets, UNet and guidance and returns the noise
   * prediction plus what the step stores or measures (the probe, h_b, the residuals); the cache writes and the drift
   * measurements (host read-backs) happen eagerly after it, in the order of the eager path. Undefined when a cached
   * input is missing: the eager path then handles the miss.
   */
  #graphedStep(ctx: StepContext, plan: StepPlan, inp: StepInputs, graphs: StepGraphs): { eps: Tensor; obs: StepObservation } | undefined {
    const batch = plan.cfg && inp.context2 ? 2 : 1;
    const context = batch === 2 ? inp.context2! : inp.context1;
    const b = branchOf(plan);
    const shallow = plan.block.kind === 'shallow';
    const nc = inp.controls.length;
    const reuseRes = nc > 0 && plan.controlnet === 'reuse';
    // Full runs at the plan's storeBranch keep h_k for that branch and the plan's extra storeBranches (eager: the
    // UNet's storeAt); each becomes a graph output, kept under `deep.k` after the graph, as the eager path does.
    const storeAt = !shallow && b !== undefined && plan.storeBranch === b
      ? [b, ...(plan.storeBranches ?? []).filter((k) => k !== b)] : [];
    const storeRes = nc > 0 && !reuseRes && plan.storeResiduals === true;
    return tidy(() => {
      const cached: Tensor[] = [];
      if (shallow) {
        const deep = this.#reused(`deep.${b!}`, batch, ctx, plan);
        if (!deep) return undefined;
        cached.push(deep);
      }
      // Reused ControlNet residuals: skips 0..b for a shallow run; every skip and the mid block for a full run.
      const resKeys = !reuseRes ? [] : shallow ? [...Array(b! + 1).keys()].map((i) => `cn.res.${i}`)
        : [...[...Array(inp.unet.branchCount + 1).keys()].map((i) => `cn.res.${i}`), 'cn.mid'];
      for (const k of resKeys) {
        const r = this.#reused(k, batch, ctx, plan);
        if (!r) return undefined;
        cached.push(r);
      }
      const device = inp.x.device;
      const tembs = [inp.unet.timeEmbedding(inp.timestep, batch, device), ...inp.controls.map((c) => c.model.timeEmbedding(inp.timestep, batch, device))];
      const key = `policy:${plan.block.kind}:b${b ?? '-'}:batch${batch}:${reuseRes ? 'reuse' : 'run'}:deep[${storeAt.join(',')}]:${storeRes ? 'res' : ''}`;
      const outs = graphs.run(key, [inp.x, ...tembs, ...cached], (xs) => {
        const x = xs[0]!, temb = xs[1]!, ctembs = xs.slice(2, 2 + nc), deepIn = shallow ? xs[2 + nc] : undefined;
        const resIn = reuseRes ? xs.slice(2 + nc + (shallow ? 1 : 0)) : undefined;
        const xb = batch === 2 ? ops.concat([x, x], 0) : x;
        const extra: Tensor[] = [];
        const deepOut = new Map<number, Tensor>();
        let probe: Tensor | undefined;
        const residuals = nc === 0 ? undefined : (): Residuals => {
          if (resIn) return shallow ? { down: [...resIn] } : { down: resIn.slice(0, -1), mid: resIn[resIn.length - 1]! };
          const r = this.#controlsForward(inp, xb, context, batch, ctembs);
          if (storeRes) extra.push(...r.down, r.mid);
          return r;
        };
        const branch = b === undefined ? undefined : {
          index: b,
          decide: (p: Tensor): Tensor | undefined => {
            probe = p.clone();
            return deepIn;
          },
          storeAt,
          store: storeAt.length > 0 ? (d: Tensor, at: number) => { deepOut.set(at, d.clone()); } : undefined,
        };
        const out = withCrossAttentionController(this.attention, () =>
          inp.unet.forward(xb, inp.timestep, context, { branch, residuals, temb }));
        const eps = this.#guide(out, batch, inp.guidance);
        return [eps, ...(probe ? [probe] : []), ...storeAt.map((at) => deepOut.get(at)!), ...extra];
      });
      const eps = outs[0]!;
      let k = 1;
      const probe = b !== undefined ? outs[k++] : undefined;
      const deeps = storeAt.map((at) => [at, outs[k++]!] as const);
      const res = outs.slice(k);
      let drift: number | undefined, deepDrift: number | undefined;
      if (res.length > 0) {
        res.slice(0, -1).forEach((d, i) => this.#keep(`cn.res.${i}`, d, ctx, plan));
        this.#keep('cn.mid', res[res.length - 1]!, ctx, plan);
      }
      if (probe) {  // as the eager path: the probe is measured and kept at storeBranch only
        const ref = b !== plan.storeBranch ? undefined : this.#reused('probe', batch, ctx, plan);
        if (ref) drift = ops.relativeL1(probe, ref);
        if (!shallow && plan.storeBranch === b) this.#keep('probe', probe, ctx, plan);
      }
      for (const [at, deep] of deeps) {
        if (at === b) {
          const prev = this.#get(`deep.${at}`, batch);
          if (prev) deepDrift = ops.relativeL1(deep, prev);
        }
        this.#keep(`deep.${at}`, deep, ctx, plan);
      }
      return { eps, obs: { full: !shallow, drift, deepDrift, misses: [...this.attention.misses] } };
    });
  }
}

/**
 * Whether a plan's step can go through a CUDA graph: whole or shallow UNet runs whose cross-attention computes
 * (text K/V from the exact per-generation cache, whose entries must then never be evicted: unlimited budget only),
 * without Faster-Diffusion's encoder store; 'auto' plans need the probe's drift on the host before they know what
 * to run.
 */
function graphable(plan: StepPlan, store: CacheStore): boolean {
  const kind = plan.block.kind;
  if (kind !== 'full' && kind !== 'shallow') return false;
  if (plan.storeEncoder || plan.crossAttention !== 'compute' || plan.crossAttentionLayer || plan.replayMaps) return false;
  return store.stats().budget >= Number.MAX_SAFE_INTEGER;
}

function branchOf(plan: StepPlan): number | undefined {
  if (plan.block.kind === 'shallow' || plan.block.kind === 'auto') return plan.block.branch;
  return plan.storeBranch;
}
