/**
 * UNet2DConditionModel (SD1.5 family), built from a diffusers config, with diffusers' parameter names.
 * forward() predicts noise for (sample, timestep, text context), optionally adding ControlNet residuals to the
 * skip connections and the mid-block output.
 */
import { Conv2d, GroupNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { check, shapeStr } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { ModuleList, assignAttentionPaths } from './attention.js';
import { type BlockHook, DownBlock, MidBlock, UpBlock } from './blocks.js';
import { type UNetConfig, parseUNetConfig } from './config.js';
import { TimestepEmbedding, embedTimestep } from './embeddings.js';

/** Residuals for the skip connections (conv_in first) and the mid-block output. */
export interface Residuals {
  /** Added to each skip tensor, conv_in's output first (12 for SD1.5); a shallow run reads only those it consumes. */
  down?: readonly Tensor[];
  /** Added to the mid-block output. */
  mid?: Tensor;
}

/**
 * The block-level cache hook at skip branch b (DeepCache's mechanism). The shallow part S_b is conv_in, the
 * down layers 0..b, the up layers that consume skips b..0, and conv_out; h_b is the up-path feature that
 * enters the up layer consuming skip b.
 */
export interface BranchHook {
  /** The skip branch b (0 … branchCount − 1) where the network is cut. */
  index: number;
  /**
   * Called with the probe — the output of down layer b — as soon as it is computed. Return a cached h_b to run
   * only S_b, or undefined to run the whole network.
   */
  decide: (probe: Tensor) => Tensor | undefined;
  /**
   * On whole-network runs: receives h_b so it can be cached (do not dispose it), and h_k of every other branch k
   * listed in `storeAt`, with its branch index.
   */
  store?: (deep: Tensor, branch: number) => void;
  /** The branches whose h is passed to `store` on whole-network runs (default: just `index`). */
  storeAt?: readonly number[];
}

/** Faster-Diffusion's encoder propagation: reuse the encoder outputs (skips with residuals, mid output). */
export interface EncoderHook {
  /** Encoder outputs to reuse instead of running the down path and the mid block. */
  cached?: {
    /** The skip tensors with the ControlNet residuals added, conv_in's first. */
    skips: readonly Tensor[];
    /** The mid-block output with its residual added. */
    mid: Tensor;
  };
  /** On full runs: receives the encoder outputs (with residuals added) so they can be cached. */
  store?: (skips: readonly Tensor[], mid: Tensor) => void;
}

/** Options of {@link UNet2DConditionModel.forward}. */
export interface UNetForwardOptions {
  /** ControlNet residuals for the skip tensors, in down-path order (conv_in first). */
  downResiduals?: readonly Tensor[];
  /** ControlNet residual for the mid-block output. */
  midResidual?: Tensor;
  /**
   * Residuals produced on demand, after the branch decision: 'full' runs need all of them; 'shallow' runs only
   * those of skips 0..b. Takes precedence over downResiduals/midResidual. The caller owns what it returns.
   */
  residuals?: (mode: 'full' | 'shallow') => Residuals | undefined;
  /** A precomputed time embedding [B, 4·C0] (shared with the ControlNet in a step). */
  temb?: Tensor;
  /** Block-level caching at one skip branch (DeepCache's mechanism). */
  branch?: BranchHook;
  /** Encoder propagation (Faster-Diffusion): reuse or store the encoder outputs. */
  encoder?: EncoderHook;
  /** Receives intermediate outputs by diffusers module path (for tests and probes). */
  hook?: BlockHook;
}

interface DownLayer {
  block: number;
  index: number;
  run: (h: Tensor, temb: Tensor, ctx: Tensor, hook?: BlockHook) => Tensor;
}

interface UpLayer {
  block: number;
  index: number;
  run: (h: Tensor, skip: Tensor, temb: Tensor, ctx: Tensor, hook?: BlockHook) => Tensor;
}

/**
 * diffusers' UNet2DConditionModel for the SD1.5 family: predicts the noise for a latent sample at a timestep,
 * conditioned on text embeddings (and, optionally, ControlNet residuals).
 */
export class UNet2DConditionModel extends Module {
  /** The parsed configuration the model was built from. */
  readonly config: UNetConfig;
  /** 3×3 conv from the latent channels to the first width. */
  readonly conv_in: Conv2d;
  /** The timestep MLP (first width → 4 × first width). */
  readonly time_embedding: TimestepEmbedding;
  /** The down path, highest resolution first (`down_blocks.i`). */
  readonly down_blocks: DownBlock[] = [];
  /** The mid block at the lowest resolution. */
  readonly mid_block: MidBlock;
  /** The up path, lowest resolution first (`up_blocks.i`). */
  readonly up_blocks: UpBlock[] = [];
  /** Final GroupNorm (followed by a SiLU). */
  readonly conv_norm_out: GroupNorm;
  /** 3×3 conv from the first width to the output (noise) channels. */
  readonly conv_out: Conv2d;

  /** @param config - A parsed {@link UNetConfig} or a diffusers config.json object (validated by parseUNetConfig). */
  constructor(config: UNetConfig | Record<string, unknown>) {
    super();
    const cfg = 'blockOutChannels' in config ? (config as UNetConfig) : parseUNetConfig(config as Record<string, unknown>);
    this.config = cfg;
    const ch = cfg.blockOutChannels;
    this.conv_in = this.child('conv_in', new Conv2d(cfg.inChannels, ch[0]!, 3, { padding: 1 }));
    this.time_embedding = this.child('time_embedding', new TimestepEmbedding(ch[0]!, ch[0]! * 4));
    const down = this.child('down_blocks', new ModuleList());
    let out = ch[0]!;
    cfg.downBlockTypes.forEach((type, i) => {
      const inp = out;
      out = ch[i]!;
      this.down_blocks.push(down.add(String(i), new DownBlock(cfg, inp, out, cfg.heads[i]!, type === 'CrossAttnDownBlock2D', i < ch.length - 1)));
    });
    this.mid_block = this.child('mid_block', new MidBlock(cfg));
    const up = this.child('up_blocks', new ModuleList());
    const rev = [...ch].reverse();
    const revHeads = [...cfg.heads].reverse();
    let output = rev[0]!;
    cfg.upBlockTypes.forEach((type, i) => {
      const prev = output;
      output = rev[i]!;
      const input = rev[Math.min(i + 1, ch.length - 1)]!;
      this.up_blocks.push(up.add(String(i), new UpBlock(cfg, input, output, prev, revHeads[i]!, type === 'CrossAttnUpBlock2D', i < ch.length - 1)));
    });
    this.conv_norm_out = this.child('conv_norm_out', new GroupNorm(cfg.normNumGroups, ch[0]!, cfg.normEps));
    this.conv_out = this.child('conv_out', new Conv2d(ch[0]!, cfg.outChannels, 3, { padding: 1 }));
    this.down_blocks.forEach((blk, b) => {
      for (let j = 0; j < blk.layerCount; j++) {
        this.#down.push({ block: b, index: j, run: (h, temb, ctx, hook) => this.scoped(`down_blocks.${b}`, () => blk.runLayer(j, h, temb, ctx, prefixed(hook, `down_blocks.${b}`))) });
      }
    });
    assignAttentionPaths(this, 'unet');
    this.up_blocks.forEach((blk, b) => {
      for (let j = 0; j < blk.layerCount; j++) {
        this.#up.push({ block: b, index: j, run: (h, skip, temb, ctx, hook) => this.scoped(`up_blocks.${b}`, () => blk.runLayer(j, h, skip, temb, ctx, prefixed(hook, `up_blocks.${b}`))) });
      }
    });
  }

  readonly #down: DownLayer[] = [];
  readonly #up: UpLayer[] = [];

  /** Number of skip branches: down layers (pairs and downsamplers). The branch index b ranges over 0..this−1. */
  get branchCount(): number {
    return this.#down.length;
  }

  /** Name of the down layer that produces the probe of branch b, e.g. 'down_blocks.0 layer 0'. */
  branchName(b: number): string {
    const l = this.#down[b];
    return l ? `down_blocks.${l.block} layer ${l.index}` : `branch ${b}`;
  }

  /** The time embedding [batch, 4·C0] of timestep t (time_proj + MLP). */
  timeEmbedding(t: number, batch: number, device: Tensor['device'], hook?: BlockHook): Tensor {
    return this.scoped('time_embedding', () => embedTimestep(this.time_embedding, t, batch, this.config.blockOutChannels[0]!, {
      flipSinToCos: this.config.flipSinToCos, freqShift: this.config.freqShift, device, hook,
      dtype: this.time_embedding.linear_1.weight.tensor?.dtype,  // f16/bf16 weights: the MLP runs in their dtype
    }));
  }

  /** sample [B, Cin, H, W], context [B, 77, Cctx] → noise prediction [B, Cout, H, W]. */
  forward(sample: Tensor, timestep: number, context: Tensor, opts: UNetForwardOptions = {}): Tensor {
    check(sample.rank === 4 && sample.shape[1] === this.config.inChannels, 'SHAPE',
      () => `UNet: sample must be [B, ${this.config.inChannels}, H, W], got ${shapeStr(sample.shape)}`);
    check(context.rank === 3 && context.shape[0] === sample.shape[0] && context.shape[2] === this.config.crossAttentionDim, 'SHAPE',
      () => `UNet: context must be [${sample.shape[0]}, tokens, ${this.config.crossAttentionDim}], got ${shapeStr(context.shape)}`);
    const levels = 2 ** (this.config.blockOutChannels.length - 1);
    check(sample.shape[2]! % levels === 0 && sample.shape[3]! % levels === 0, 'SHAPE',
      () => `UNet: latent size ${sample.shape[2]}×${sample.shape[3]} must be a multiple of ${levels}`);
    const branch = opts.branch;
    const storeAt = branch?.storeAt ?? (branch ? [branch.index] : []);
    for (const b of branch ? [branch.index, ...storeAt] : []) {
      check(Number.isInteger(b) && b >= 0 && b < this.#down.length, 'ARG', () => `UNet: branch ${b} is out of range 0..${this.#down.length - 1}`);
    }
    const hook = opts.hook;
    const temb = opts.temb ?? this.timeEmbedding(timestep, sample.shape[0]!, sample.device, hook);
    const owned: Tensor[] = opts.temb ? [] : [temb];
    const nSkips = this.#down.length + 1;
    try {
      let skips: Tensor[];
      let h: Tensor;
      let upStart = 0;
      let shallow = false;
      if (opts.encoder?.cached) {
        skips = [...opts.encoder.cached.skips];
        check(skips.length === nSkips, 'SHAPE', () => `UNet: cached encoder has ${skips.length} skips, the model has ${nSkips}`);
        h = opts.encoder.cached.mid;
      } else {
        h = this.scoped('conv_in', () => this.conv_in.forward(sample));
        hook?.('conv_in', h);
        owned.push(h);
        skips = [h];
        let deep: Tensor | undefined;
        for (let l = 0; l < this.#down.length; l++) {
          const layer = this.#down[l]!;
          h = layer.run(h, temb, context, hook);
          owned.push(h);
          skips.push(h);
          if (hook) this.#reportDown(layer, skips, hook);
          if (branch && l === branch.index) {
            deep = branch.decide(h);
            if (deep) break;
          }
        }
        const res = opts.residuals ? opts.residuals(deep ? 'shallow' : 'full') : { down: opts.downResiduals, mid: opts.midResidual };
        if (res?.down) {
          const used = deep ? branch!.index + 1 : nSkips;
          check(res.down.length >= used, 'SHAPE', () => `UNet: ${res.down!.length} down residuals given, ${used} needed`);
          if (!deep) check(res.down.length === nSkips, 'SHAPE', () => `UNet: ${res.down!.length} down residuals given, the model has ${nSkips} skip connections`);
          for (let i = 0; i < used; i++) {
            const r = res.down[i]!, s = skips[i]!;
            check(r.rank === s.rank && r.shape.every((d, k) => d === s.shape[k]), 'SHAPE',
              () => `UNet: down residual ${i} ${shapeStr(r.shape)} does not match skip ${shapeStr(s.shape)}`);
            skips[i] = ops.add(s, r);
            owned.push(skips[i]!);
          }
        }
        if (deep) {
          shallow = true;
          h = deep;
          upStart = this.#up.length - 1 - branch!.index;
        } else {
          let mid = this.scoped('mid_block', () => this.mid_block.forward(h, temb, context, prefixed(hook, 'mid_block')));
          owned.push(mid);
          if (res?.mid) {
            const m = res.mid;
            check(m.rank === 4 && m.shape.every((d, k) => d === mid.shape[k]), 'SHAPE',
              () => `UNet: mid residual ${shapeStr(m.shape)} does not match ${shapeStr(mid.shape)}`);
            mid = ops.add(mid, m);
            owned.push(mid);
          }
          hook?.('mid_block', mid);
          opts.encoder?.store?.(skips, mid);
          h = mid;
        }
      }
      for (let u = upStart; u < this.#up.length; u++) {
        const layer = this.#up[u]!;
        if (!shallow && branch?.store && storeAt.includes(this.#up.length - 1 - u)) branch.store(h, this.#up.length - 1 - u);
        h = layer.run(h, skips[nSkips - 1 - u]!, temb, context, hook);
        owned.push(h);
        if (hook && layer.index === this.up_blocks[layer.block]!.layerCount - 1) hook(`up_blocks.${layer.block}`, h);
      }
      let normed: Tensor;
      if (hook) {
        const n = this.scoped('conv_norm_out', () => this.conv_norm_out.forward(h));
        hook('conv_norm_out', n);
        normed = ops.silu(n);
        n.dispose();
      } else {
        normed = this.scoped('conv_norm_out', () => this.conv_norm_out.forward(h, true));
      }
      owned.push(normed);
      const out = this.scoped('conv_out', () => this.conv_out.forward(normed));
      hook?.('conv_out', out);
      return out;
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  /** Block-level hook names of the original diffusers forward: down_blocks.i.out and .resJ. */
  #reportDown(layer: DownLayer, skips: Tensor[], hook: BlockHook): void {
    const blk = this.down_blocks[layer.block]!;
    if (layer.index !== blk.layerCount - 1) return;
    const produced = skips.slice(skips.length - blk.layerCount);
    hook(`down_blocks.${layer.block}.out`, produced[produced.length - 1]!);
    produced.forEach((s, j) => hook(`down_blocks.${layer.block}.res${j}`, s));
  }
}

/** A hook that reports names under `prefix`, or undefined. */
export function prefixed(hook: BlockHook | undefined, prefix: string): BlockHook | undefined {
  return hook ? (name, t) => hook(`${prefix}.${name}`, t) : undefined;
}
