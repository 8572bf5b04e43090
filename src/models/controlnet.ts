/**
 * ControlNetModel (SD1.5 family): the UNet's encoder half plus a conditioning embedding for the control image
 * and zero convolutions that turn each skip tensor and the mid-block output into residuals for the UNet.
 */
import { check, shapeStr } from '../errors.js';
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { ModuleList, assignAttentionPaths } from './attention.js';
import { type BlockHook, DownBlock, MidBlock } from './blocks.js';
import { type ControlNetConfig, parseControlNetConfig } from './config.js';
import { TimestepEmbedding, embedTimestep } from './embeddings.js';
import { prefixed } from './unet.js';

/** Conv stack that brings the control image (8× the latent size) down to the latent grid. */
export class ControlNetConditioningEmbedding extends Module {
  /** 3×3 conv from the control image channels to the first stage width (followed by a SiLU). */
  readonly conv_in: Conv2d;
  /**
   * Per stage transition: a 3×3 conv at the stage width, then a stride-2 3×3 conv to the next width (`blocks.2i`,
   * `blocks.2i+1`), each followed by a SiLU.
   */
  readonly blocks: Conv2d[] = [];
  /** 3×3 conv (zero-initialised in training) from the last stage width to the UNet's first width. */
  readonly conv_out: Conv2d;
  /**
   * @param channels - Stage widths (conditioning_embedding_out_channels); each stage after the first halves the
   *   resolution.
   * @param inChannels - Channels of the control image (3).
   * @param outChannels - Output width: the model's first block width (320 for SD1.5).
   */
  constructor(channels: readonly number[], inChannels: number, outChannels: number) {
    super();
    this.conv_in = this.child('conv_in', new Conv2d(inChannels, channels[0]!, 3, { padding: 1 }));
    const list = this.child('blocks', new ModuleList());
    for (let i = 0; i < channels.length - 1; i++) {
      this.blocks.push(list.add(String(2 * i), new Conv2d(channels[i]!, channels[i]!, 3, { padding: 1 })));
      this.blocks.push(list.add(String(2 * i + 1), new Conv2d(channels[i]!, channels[i + 1]!, 3, { padding: 1, stride: 2 })));
    }
    this.conv_out = this.child('conv_out', new Conv2d(channels[channels.length - 1]!, outChannels, 3, { padding: 1 }));
  }
  /** control image [B, 3, 8h, 8w] in [0, 1] → embedding [B, C0, h, w], added to conv_in's output. */
  forward(cond: Tensor): Tensor {
    return tidy(() => {
      let h = ops.silu(this.scoped('conv_in', () => this.conv_in.forward(cond)));
      this.blocks.forEach((b, i) => {
        h = ops.silu(this.scoped(`blocks.${i}`, () => b.forward(h)));
      });
      return this.scoped('conv_out', () => this.conv_out.forward(h));
    });
  }
}

/** Options of {@link ControlNetModel.forward}. */
export interface ControlNetForwardOptions {
  /** Multiplies every residual (default 1). */
  conditioningScale?: number;
  /** Guess mode: residuals scaled by logspace(−1, 0) from shallow to deep, times conditioningScale. */
  guessMode?: boolean;
  /** A precomputed time embedding (shared with the UNet in a step). */
  temb?: Tensor;
  /** A precomputed conditioning embedding (it depends only on the control image: compute it once). */
  condEmbedding?: Tensor;
  /** Receives intermediate outputs by diffusers module path (for tests and probes). */
  hook?: BlockHook;
}

/** Residuals for the UNet: one per skip connection (conv_in first) and one for the mid block. */
export interface ControlNetOutput {
  /** Residuals for the UNet's skip tensors, conv_in's first (12 for SD1.5), each shaped like its skip. */
  down: Tensor[];
  /** Residual for the UNet's mid-block output [B, C_last, h, w]. */
  mid: Tensor;
}

/**
 * diffusers' ControlNetModel for the SD1.5 family: the UNet's encoder half fed the latents plus an embedding of the
 * control image, with 1×1 zero convs turning each skip and the mid-block output into UNet residuals.
 */
export class ControlNetModel extends Module {
  /** The parsed configuration the model was built from. */
  readonly config: ControlNetConfig;
  /** 3×3 conv from the latent channels to the first width. */
  readonly conv_in: Conv2d;
  /** The timestep MLP (first width → 4 × first width). */
  readonly time_embedding: TimestepEmbedding;
  /** The conv stack that brings the control image down to the latent grid. */
  readonly controlnet_cond_embedding: ControlNetConditioningEmbedding;
  /** The down path, as in the UNet (`down_blocks.i`). */
  readonly down_blocks: DownBlock[] = [];
  /** One 1×1 zero conv per skip tensor, conv_in's first (`controlnet_down_blocks.i`). */
  readonly controlnet_down_blocks: Conv2d[] = [];
  /** The mid block, as in the UNet. */
  readonly mid_block: MidBlock;
  /** The 1×1 zero conv on the mid-block output. */
  readonly controlnet_mid_block: Conv2d;

  /**
   * @param config - A parsed {@link ControlNetConfig} or a diffusers config.json object (validated by
   *   parseControlNetConfig).
   */
  constructor(config: ControlNetConfig | Record<string, unknown>) {
    super();
    const cfg = 'blockOutChannels' in config ? (config as ControlNetConfig) : parseControlNetConfig(config as Record<string, unknown>);
    this.config = cfg;
    const ch = cfg.blockOutChannels;
    this.conv_in = this.child('conv_in', new Conv2d(cfg.inChannels, ch[0]!, 3, { padding: 1 }));
    this.time_embedding = this.child('time_embedding', new TimestepEmbedding(ch[0]!, ch[0]! * 4));
    this.controlnet_cond_embedding = this.child('controlnet_cond_embedding',
      new ControlNetConditioningEmbedding(cfg.conditioningEmbeddingOutChannels, cfg.conditioningChannels, ch[0]!));
    const down = this.child('down_blocks', new ModuleList());
    const zero = this.child('controlnet_down_blocks', new ModuleList());
    let zi = 0;
    const addZero = (c: number) => this.controlnet_down_blocks.push(zero.add(String(zi++), new Conv2d(c, c, 1)));
    addZero(ch[0]!);
    let out = ch[0]!;
    cfg.downBlockTypes.forEach((type, i) => {
      const inp = out;
      out = ch[i]!;
      const last = i === ch.length - 1;
      this.down_blocks.push(down.add(String(i), new DownBlock(cfg, inp, out, cfg.heads[i]!, type === 'CrossAttnDownBlock2D', !last)));
      for (let l = 0; l < cfg.layersPerBlock; l++) addZero(out);
      if (!last) addZero(out);
    });
    this.mid_block = this.child('mid_block', new MidBlock(cfg));
    this.controlnet_mid_block = this.child('controlnet_mid_block', new Conv2d(ch[ch.length - 1]!, ch[ch.length - 1]!, 1));
    assignAttentionPaths(this, 'controlnet');
  }

  /** How much larger the control image is than the latent (8 for SD1.5: three stride-2 convolutions). */
  get conditioningFactor(): number {
    return 2 ** (this.config.conditioningEmbeddingOutChannels.length - 1);
  }

  /** The conditioning embedding of a control image [B, 3, 8H, 8W] in [0, 1]. */
  embedCondition(cond: Tensor): Tensor {
    return this.scoped('controlnet_cond_embedding', () => this.controlnet_cond_embedding.forward(cond));
  }

  /** The time embedding [batch, 4·C0] of timestep t. */
  timeEmbedding(t: number, batch: number, device: Tensor['device'], hook?: BlockHook): Tensor {
    return this.scoped('time_embedding', () => embedTimestep(this.time_embedding, t, batch, this.config.blockOutChannels[0]!, {
      flipSinToCos: this.config.flipSinToCos, freqShift: this.config.freqShift, device, hook,
      dtype: this.time_embedding.linear_1.weight.tensor?.dtype,  // f16/bf16 weights: the MLP runs in their dtype
    }));
  }

  /** sample [B, 4, H, W], context [B, 77, C], cond [B, 3, 8H, 8W] (or opts.condEmbedding) → residuals. */
  forward(sample: Tensor, timestep: number, context: Tensor, cond: Tensor | null, opts: ControlNetForwardOptions = {}): ControlNetOutput {
    const cfg = this.config;
    check(sample.rank === 4 && sample.shape[1] === cfg.inChannels, 'SHAPE',
      () => `ControlNet: sample must be [B, ${cfg.inChannels}, H, W], got ${shapeStr(sample.shape)}`);
    const [b, , h, w] = sample.shape as [number, number, number, number];
    if (!opts.condEmbedding) {
      check(cond !== null, 'ARG', 'ControlNet: needs a control image or a precomputed condEmbedding');
      const f = this.conditioningFactor;
      check(cond.rank === 4 && cond.shape[0] === b && cond.shape[1] === cfg.conditioningChannels && cond.shape[2] === h * f && cond.shape[3] === w * f, 'SHAPE',
        () => `ControlNet: control image must be [${b}, ${cfg.conditioningChannels}, ${h * f}, ${w * f}] for latent ${shapeStr(sample.shape)}, got ${shapeStr(cond.shape)}`);
    }
    const scale = opts.conditioningScale ?? 1;
    check(Number.isFinite(scale), 'ARG', () => `ControlNet: conditioningScale must be finite, got ${scale}`);
    const hook = opts.hook;
    const owned: Tensor[] = [];
    try {
      const temb = opts.temb ?? this.timeEmbedding(timestep, b, sample.device, hook);
      if (!opts.temb) owned.push(temb);
      const x0 = this.scoped('conv_in', () => this.conv_in.forward(sample));
      owned.push(x0);
      hook?.('conv_in', x0);
      const emb = opts.condEmbedding ?? this.embedCondition(cond!);
      if (!opts.condEmbedding) owned.push(emb);
      hook?.('controlnet_cond_embedding', emb);
      let x = ops.add(x0, emb);
      owned.push(x);
      const skips: Tensor[] = [x];
      this.down_blocks.forEach((blk, i) => {
        const r = this.scoped(`down_blocks.${i}`, () => blk.forward(x, temb, context, prefixed(hook, `down_blocks.${i}`)));
        if (hook) {
          hook(`down_blocks.${i}.out`, r.out);
          r.skips.forEach((sk, j) => hook(`down_blocks.${i}.res${j}`, sk));
        }
        skips.push(...r.skips);
        owned.push(...r.skips);
        x = r.out;
      });
      const mid = this.scoped('mid_block', () => this.mid_block.forward(x, temb, context, prefixed(hook, 'mid_block')));
      owned.push(mid);
      hook?.('mid_block', mid);
      const n = skips.length;
      const scales = skips.map((_, i) => scale * (opts.guessMode ? 10 ** (-1 + i / n) : 1));
      const midScale = scale;  // guess mode: logspace(-1, 0, n+1) ends at 1 for the mid block
      const down = skips.map((s, i) => {
        const z = this.scoped(`controlnet_down_blocks.${i}`, () => this.controlnet_down_blocks[i]!.forward(s));
        if (scales[i] === 1) return z;
        const scaled = ops.scale(z, scales[i]!);
        z.dispose();
        return scaled;
      });
      const zm = this.scoped('controlnet_mid_block', () => this.controlnet_mid_block.forward(mid));
      let midOut = zm;
      if (midScale !== 1) {
        midOut = ops.scale(zm, midScale);
        zm.dispose();
      }
      return { down, mid: midOut };
    } finally {
      for (const t of owned) t.dispose();
    }
  }
}
