/**
 * The Stable Diffusion VAE, laid out as diffusers' `AutoencoderKL` so that parameter names are the diffusers
 * state-dict names (`encoder.down_blocks.0.resnets.1.conv1.weight`, `decoder.mid_block.attentions.0.to_q.bias`, …).
 *
 * - Encoder: a 3×3 conv from the image to the first width; one DownEncoderBlock2D per width (`layers_per_block`
 *   resnets, the first one changing the width, then — except for the last block — a stride-2 3×3 conv applied
 *   after padding one zero row at the bottom and one zero column at the right); a mid block (resnet, single-head
 *   self-attention over the H·W positions with a residual, resnet); GroupNorm + SiLU; a 3×3 conv to
 *   2·latent_channels (the mean and the log-variance).
 * - Decoder: a 3×3 conv from the latents to the last width; the mid block; one UpDecoderBlock2D per width in
 *   reverse order (`layers_per_block + 1` resnets, then — except for the last block — nearest 2× upsampling and a
 *   3×3 conv); GroupNorm + SiLU; a 3×3 conv to the image channels.
 * - `quant_conv` (1×1, on the moments) and `post_quant_conv` (1×1, on the latents) around them.
 *
 * All resnets here have no time embedding; every GroupNorm uses ε = 1e-6.
 *
 * Conventions (diffusers'): {@link AutoencoderKL.decode} takes latents in the VAE's own space — a pipeline divides
 * its diffusion-space latents by `scaling_factor` first — and returns an image in about [−1, 1] (not clamped).
 * {@link AutoencoderKL.encode} takes an image in [−1, 1] and returns the moments of the latent Gaussian; multiply
 * the mean (or a sample) by `scaling_factor` to get diffusion-space latents.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

import { zeros } from '../creation.js';
import { HgcError, check, shapeStr } from '../errors.js';
import { buildAndLoad, type ModelFolderOptions, openModelFolderWeights, readJsonFile } from '../io/model-folder.js';
import { Conv2d, GroupNorm, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import { Tensor } from '../tensor.js';
import { ModuleList } from './attention.js';
import { Upsample2D } from './resnet.js';

/** GroupNorm ε of every norm in the VAE. */
const VAE_EPS = 1e-6;

/** Called with the dotted module name and its output (valid only during the call; copy it to keep it). */
export type VaeHook = (name: string, output: Tensor) => void;

/** Options of {@link AutoencoderKL.encode} and {@link AutoencoderKL.decode}. */
export interface VaeForwardOptions {
  /**
   * Receives the outputs of `encoder.conv_in`, `encoder.down_blocks.i`, `encoder.mid_block`,
   * `encoder.conv_norm_out` (before the SiLU), `encoder.conv_out`, `quant_conv`, `post_quant_conv`,
   * `decoder.conv_in`, `decoder.mid_block`, `decoder.up_blocks.i`, `decoder.conv_norm_out` (before the SiLU) and
   * `decoder.conv_out`, as they are computed.
   */
  hook?: VaeHook;
}

/** The Gaussian over the latents that {@link AutoencoderKL.encode} returns. */
export interface VaeEncoding {
  /** quant_conv(encoder(image)): [N, 2·latent, h, w], the mean then the (unclamped) log-variance. */
  moments: Tensor;
  /** The first latent_channels channels of the moments: [N, latent, h, w]. */
  mean: Tensor;
  /** The last latent_channels channels, clamped to [−30, 20]: [N, latent, h, w]. */
  logvar: Tensor;
}

/** A validated AutoencoderKL configuration. */
export interface AutoencoderKLConfig {
  /** Image channels taken by the encoder (3). */
  inChannels: number;
  /** Image channels produced by the decoder (3). */
  outChannels: number;
  /** Latent channels (4). */
  latentChannels: number;
  /** Width of each encoder level; the decoder uses them in reverse. */
  blockOutChannels: number[];
  /** Resnets per encoder block (the decoder blocks have one more). */
  layersPerBlock: number;
  /** Groups of every GroupNorm. */
  normNumGroups: number;
  /** Whether the mid blocks have their attention layer. */
  midBlockAddAttention: boolean;
  /** Whether there is a quant_conv after the encoder. */
  useQuantConv: boolean;
  /** Whether there is a post_quant_conv before the decoder. */
  usePostQuantConv: boolean;
  /** The pipeline's latent scaling factor (0.18215 for SD 1.x; not applied by encode/decode). */
  scalingFactor: number;
  /** The pipeline's latent shift (null for SD 1.x; not applied by encode/decode). */
  shiftFactor: number | null;
}

/** The VAE of Stable Diffusion 1.x (as in runwayml/stable-diffusion-v1-5/vae/config.json). */
export const SD15_VAE_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  _class_name: 'AutoencoderKL',
  act_fn: 'silu',
  block_out_channels: [128, 256, 512, 512],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  in_channels: 3,
  latent_channels: 4,
  layers_per_block: 2,
  norm_num_groups: 32,
  out_channels: 3,
  sample_size: 512,
  scaling_factor: 0.18215,
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
});

/** diffusers' defaults for keys a config leaves out. */
const DEFAULTS: Readonly<Record<string, unknown>> = {
  in_channels: 3,
  out_channels: 3,
  down_block_types: ['DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D'],
  block_out_channels: [64],
  layers_per_block: 1,
  act_fn: 'silu',
  latent_channels: 4,
  norm_num_groups: 32,
  scaling_factor: 0.18215,
  shift_factor: null,
  use_quant_conv: true,
  use_post_quant_conv: true,
  mid_block_add_attention: true,
};

function configError(msg: string): HgcError {
  return new HgcError('ARG', `AutoencoderKL config: ${msg}`);
}

function positiveInt(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw configError(`${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown, key: string): boolean {
  if (typeof v !== 'boolean') throw configError(`${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function finite(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw configError(`${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function typeList(v: unknown, key: string, allowed: string, length: number): void {
  if (!Array.isArray(v) || v.length !== length) {
    throw configError(`${key} must be a list of ${length} block types (one per block_out_channels entry), got ${JSON.stringify(v)}`);
  }
  const bad = v.find((x) => x !== allowed);
  if (bad !== undefined) throw configError(`${key}: block type ${JSON.stringify(bad)} is not supported (supported: "${allowed}")`);
}

/**
 * Parses a diffusers AutoencoderKL config object (missing keys take diffusers' defaults). Only DownEncoderBlock2D /
 * UpDecoderBlock2D blocks and the SiLU activation are supported; every width must divide by norm_num_groups.
 * Keys that do not change the network (sample_size, force_upcast, latents_mean, …) are ignored.
 */
export function parseAutoencoderKLConfig(raw: unknown): AutoencoderKLConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw configError('must be an object');
  const c = raw as Record<string, unknown>;
  const get = (key: string): unknown => (c[key] !== undefined ? c[key] : DEFAULTS[key]);
  const widths = get('block_out_channels');
  if (!Array.isArray(widths) || widths.length === 0) {
    throw configError(`block_out_channels must be a non-empty list of positive integers, got ${JSON.stringify(widths)}`);
  }
  const blockOutChannels = widths.map((w, i) => positiveInt(w, `block_out_channels[${i}]`));
  typeList(get('down_block_types'), 'down_block_types', 'DownEncoderBlock2D', blockOutChannels.length);
  typeList(get('up_block_types'), 'up_block_types', 'UpDecoderBlock2D', blockOutChannels.length);
  const act = get('act_fn');
  if (act !== 'silu' && act !== 'swish') throw configError(`act_fn = ${JSON.stringify(act)} is not supported (supported: "silu")`);
  const shift = get('shift_factor');
  const cfg: AutoencoderKLConfig = {
    inChannels: positiveInt(get('in_channels'), 'in_channels'),
    outChannels: positiveInt(get('out_channels'), 'out_channels'),
    latentChannels: positiveInt(get('latent_channels'), 'latent_channels'),
    blockOutChannels,
    layersPerBlock: positiveInt(get('layers_per_block'), 'layers_per_block'),
    normNumGroups: positiveInt(get('norm_num_groups'), 'norm_num_groups'),
    midBlockAddAttention: bool(get('mid_block_add_attention'), 'mid_block_add_attention'),
    useQuantConv: bool(get('use_quant_conv'), 'use_quant_conv'),
    usePostQuantConv: bool(get('use_post_quant_conv'), 'use_post_quant_conv'),
    scalingFactor: finite(get('scaling_factor'), 'scaling_factor'),
    shiftFactor: shift === null ? null : finite(shift, 'shift_factor'),
  };
  const bad = blockOutChannels.find((w) => w % cfg.normNumGroups !== 0);
  if (bad !== undefined) throw configError(`block_out_channels entry ${bad} does not divide into norm_num_groups = ${cfg.normNumGroups} groups`);
  return cfg;
}

/** diffusers' ResnetBlock2D without a time embedding: GN+SiLU → conv → GN+SiLU → conv, plus the (projected) input. */
export class VaeResnetBlock2D extends Module {
  /** GroupNorm over the input channels (ε = 1e-6), fused with the SiLU that follows it. */
  readonly norm1: GroupNorm;
  /** 3×3 conv, padding 1, from the input to the output channels. */
  readonly conv1: Conv2d;
  /** GroupNorm over the output channels (ε = 1e-6), fused with its SiLU. */
  readonly norm2: GroupNorm;
  /** 3×3 conv, padding 1, output to output channels; the skip is added in the same kernel. */
  readonly conv2: Conv2d;
  /** 1×1 conv projecting the input onto the output channels for the skip; null when the widths match. */
  readonly conv_shortcut: Conv2d | null;
  constructor(inChannels: number, outChannels: number, groups: number, eps = VAE_EPS) {
    super();
    this.norm1 = this.child('norm1', new GroupNorm(groups, inChannels, eps));
    this.conv1 = this.child('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1 }));
    this.norm2 = this.child('norm2', new GroupNorm(groups, outChannels, eps));
    this.conv2 = this.child('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1 }));
    this.conv_shortcut = inChannels !== outChannels ? this.child('conv_shortcut', new Conv2d(inChannels, outChannels, 1)) : null;
  }

  /** x [B, Cin, H, W] → [B, Cout, H, W]. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      let h = this.scoped('norm1', () => this.norm1.forward(x, true));
      h = this.scoped('conv1', () => this.conv1.forward(h));
      h = this.scoped('norm2', () => this.norm2.forward(h, true));
      const skip = this.conv_shortcut ? this.scoped('conv_shortcut', () => this.conv_shortcut!.forward(x)) : x;
      return this.scoped('conv2', () => this.conv2.forward(h, skip));  // residual add fused into conv2
    });
  }
}

/**
 * The VAE mid-block attention (diffusers' Attention with a group norm, one head as wide as the channels, biased
 * q/k/v projections and a residual): x + to_out(attention(to_q(n), to_k(n), to_v(n))), n = group_norm(x), over the
 * H·W positions.
 */
export class VaeAttention extends Module {
  /** GroupNorm (ε = 1e-6) applied to the input before the projections. */
  readonly group_norm: GroupNorm;
  /** Query projection, channels → channels, with bias. */
  readonly to_q: Linear;
  /** Key projection, channels → channels, with bias. */
  readonly to_k: Linear;
  /** Value projection, channels → channels, with bias. */
  readonly to_v: Linear;
  /** Output projection (`to_out.0`, channels → channels, with bias); the residual is added in the same kernel. */
  readonly to_out: Linear;
  /**
   * @param channels - Channel count C of the input, also the width of the single attention head.
   * @param groups - GroupNorm groups (must divide `channels`).
   * @param eps - GroupNorm ε (default 1e-6).
   */
  constructor(readonly channels: number, groups: number, eps = VAE_EPS) {
    super();
    this.group_norm = this.child('group_norm', new GroupNorm(groups, channels, eps));
    this.to_q = this.child('to_q', new Linear(channels, channels));
    this.to_k = this.child('to_k', new Linear(channels, channels));
    this.to_v = this.child('to_v', new Linear(channels, channels));
    this.to_out = this.child('to_out', new ModuleList()).add('0', new Linear(channels, channels));
  }

  /** x [B, C, H, W] → [B, C, H, W]. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [, , h, w] = x.shape as [number, number, number, number];
      const normed = this.scoped('group_norm', () => this.group_norm.forward(x));
      const tokens = ops.nchwToTokens(normed);
      const q = this.scoped('to_q', () => this.to_q.forward(tokens));
      const k = this.scoped('to_k', () => this.to_k.forward(tokens));
      const v = this.scoped('to_v', () => this.to_v.forward(tokens));
      const o = ops.attention(q, k, v, { heads: 1 });
      const residual = ops.nchwToTokens(x);
      const out = this.scoped('to_out.0', () => this.to_out.forward(o, { residual }));
      return ops.tokensToNchw(out, h, w);
    });
  }
}

/** diffusers' UNetMidBlock2D as the VAE uses it: resnet, (attention, resnet); no time embedding. */
export class VaeMidBlock2D extends Module {
  /** The two resnets (`resnets.0` before the attention, `resnets.1` after it). */
  readonly resnets: VaeResnetBlock2D[];
  /** The attention between the resnets (`attentions.0`); empty when mid_block_add_attention is false. */
  readonly attentions: VaeAttention[];
  constructor(channels: number, groups: number, addAttention: boolean) {
    super();
    const resnets = this.child('resnets', new ModuleList());
    this.resnets = [0, 1].map((i) => resnets.add(String(i), new VaeResnetBlock2D(channels, channels, groups)));
    this.attentions = [];
    if (addAttention) {
      const attentions = this.child('attentions', new ModuleList());
      this.attentions.push(attentions.add('0', new VaeAttention(channels, groups)));
    }
  }

  /** x [B, C, H, W] → [B, C, H, W]: resnet, attention (if any), resnet. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      let h = this.scoped('resnets.0', () => this.resnets[0]!.forward(x));
      if (this.attentions.length > 0) h = this.scoped('attentions.0', () => this.attentions[0]!.forward(h));
      return this.scoped('resnets.1', () => this.resnets[1]!.forward(h));
    });
  }
}

/**
 * The encoder's Downsample2D (diffusers' padding 0): one zero row at the bottom and one zero column at the right,
 * then a stride-2 3×3 conv without padding, so a size s becomes ⌊(s − 1)/2⌋ + 1 (s/2 for even s), as in diffusers.
 */
export class VaeDownsample2D extends Module {
  /** Stride-2 3×3 conv without padding, channels → channels. */
  readonly conv: Conv2d;
  constructor(channels: number) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, channels, 3, { stride: 2, padding: 0 }));
  }
  /** x [N, C, H, W] → [N, C, ⌊(H − 1)/2⌋ + 1, ⌊(W − 1)/2⌋ + 1] (pad bottom/right by one zero, then the conv). */
  forward(x: Tensor): Tensor {
    return tidy(() => this.scoped('conv', () => this.conv.forward(padBottomRight(x))));
  }
}

/** x [N, C, H, W] → [N, C, H+1, W+1] with zeros in the new last row and column. */
function padBottomRight(x: Tensor): Tensor {
  return tidy(() => {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const opts = { dtype: x.dtype, device: x.device };
    const wide = ops.concat([x, zeros([n, c, h, 1], opts)], 3);
    return ops.concat([wide, zeros([n, c, 1, w + 1], opts)], 2);
  });
}

/** diffusers' DownEncoderBlock2D: resnets, then (unless last) a downsampler. */
export class DownEncoderBlock2D extends Module {
  /** `layers_per_block` resnets; the first changes the width from the input to the output channels. */
  readonly resnets: VaeResnetBlock2D[];
  /** The halving downsampler (`downsamplers.0`); null in the last block. */
  readonly downsampler: VaeDownsample2D | null;
  constructor(inChannels: number, outChannels: number, layers: number, groups: number, downsample: boolean) {
    super();
    const resnets = this.child('resnets', new ModuleList());
    this.resnets = Array.from({ length: layers }, (_, j) =>
      resnets.add(String(j), new VaeResnetBlock2D(j === 0 ? inChannels : outChannels, outChannels, groups)));
    this.downsampler = downsample ? this.child('downsamplers', new ModuleList()).add('0', new VaeDownsample2D(outChannels)) : null;
  }
  /** x [N, Cin, H, W] → [N, Cout, H', W'], with H', W' halved (rounded up) unless this is the last block. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      let h = x;
      this.resnets.forEach((r, j) => { h = this.scoped(`resnets.${j}`, () => r.forward(h)); });
      if (this.downsampler) h = this.scoped('downsamplers.0', () => this.downsampler!.forward(h));
      return h;
    });
  }
}

/** diffusers' UpDecoderBlock2D: resnets, then (unless last) nearest 2× upsampling and a 3×3 conv. */
export class UpDecoderBlock2D extends Module {
  /** `layers_per_block + 1` resnets; the first changes the width from the input to the output channels. */
  readonly resnets: VaeResnetBlock2D[];
  /** Nearest 2× upsampling + 3×3 conv (`upsamplers.0`); null in the last block. */
  readonly upsampler: Upsample2D | null;
  constructor(inChannels: number, outChannels: number, layers: number, groups: number, upsample: boolean) {
    super();
    const resnets = this.child('resnets', new ModuleList());
    this.resnets = Array.from({ length: layers }, (_, j) =>
      resnets.add(String(j), new VaeResnetBlock2D(j === 0 ? inChannels : outChannels, outChannels, groups)));
    this.upsampler = upsample ? this.child('upsamplers', new ModuleList()).add('0', new Upsample2D(outChannels)) : null;
  }
  /** x [N, Cin, H, W] → [N, Cout, 2H, 2W] ([N, Cout, H, W] in the last block). */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      let h = x;
      this.resnets.forEach((r, j) => { h = this.scoped(`resnets.${j}`, () => r.forward(h)); });
      if (this.upsampler) h = this.scoped('upsamplers.0', () => this.upsampler!.forward(h));
      return h;
    });
  }
}

/** Runs the final GroupNorm + SiLU, unfused when a hook must see the norm's output. */
function normOutSilu(norm: GroupNorm, x: Tensor, name: string, hook: VaeHook | undefined): Tensor {
  if (!hook) return norm.forward(x, true);
  const n = norm.forward(x);
  hook(name, n);
  return ops.silu(n);
}

/** The VAE encoder: image [N, in, H, W] → [N, 2·latent, H/f, W/f], f = 2^(levels − 1). */
export class VaeEncoder extends Module {
  /** 3×3 conv from the image channels to the first width. */
  readonly conv_in: Conv2d;
  /** One block per `block_out_channels` entry, in order (`down_blocks.i`). */
  readonly down_blocks: DownEncoderBlock2D[];
  /** Mid block at the last width. */
  readonly mid_block: VaeMidBlock2D;
  /** Final GroupNorm (ε = 1e-6), followed by a SiLU. */
  readonly conv_norm_out: GroupNorm;
  /** 3×3 conv from the last width to 2·latent_channels (mean, then log-variance). */
  readonly conv_out: Conv2d;
  constructor(cfg: AutoencoderKLConfig) {
    super();
    const widths = cfg.blockOutChannels, g = cfg.normNumGroups;
    this.conv_in = this.child('conv_in', new Conv2d(cfg.inChannels, widths[0]!, 3, { padding: 1 }));
    const blocks = this.child('down_blocks', new ModuleList());
    this.down_blocks = widths.map((w, i) =>
      blocks.add(String(i), new DownEncoderBlock2D(i === 0 ? widths[0]! : widths[i - 1]!, w, cfg.layersPerBlock, g, i < widths.length - 1)));
    const last = widths[widths.length - 1]!;
    this.mid_block = this.child('mid_block', new VaeMidBlock2D(last, g, cfg.midBlockAddAttention));
    this.conv_norm_out = this.child('conv_norm_out', new GroupNorm(g, last, VAE_EPS));
    this.conv_out = this.child('conv_out', new Conv2d(last, 2 * cfg.latentChannels, 3, { padding: 1 }));
  }

  /**
   * Runs the encoder.
   * @param x - Image [N, in, H, W].
   * @param hook - Receives `${prefix}.conv_in`, `.down_blocks.i`, `.mid_block`, `.conv_norm_out` (before the SiLU) and
   *   `.conv_out`.
   * @param prefix - Name prefix for the hook (default `encoder`).
   * @returns The moments before quant_conv, [N, 2·latent, H/f, W/f].
   */
  forward(x: Tensor, hook?: VaeHook, prefix = 'encoder'): Tensor {
    return tidy(() => {
      const emit = (name: string, y: Tensor) => { hook?.(`${prefix}.${name}`, y); return y; };
      let h = emit('conv_in', this.scoped('conv_in', () => this.conv_in.forward(x)));
      this.down_blocks.forEach((b, i) => { h = emit(`down_blocks.${i}`, this.scoped(`down_blocks.${i}`, () => b.forward(h))); });
      h = emit('mid_block', this.scoped('mid_block', () => this.mid_block.forward(h)));
      h = this.scoped('conv_norm_out', () => normOutSilu(this.conv_norm_out, h, `${prefix}.conv_norm_out`, hook));
      return emit('conv_out', this.scoped('conv_out', () => this.conv_out.forward(h)));
    });
  }
}

/** The VAE decoder: latents [N, latent, h, w] → image [N, out, h·f, w·f]. */
export class VaeDecoder extends Module {
  /** 3×3 conv from the latent channels to the last width. */
  readonly conv_in: Conv2d;
  /** Mid block at the last width. */
  readonly mid_block: VaeMidBlock2D;
  /** One block per width in reverse order (`up_blocks.i`, i = 0 is the widest, lowest-resolution one). */
  readonly up_blocks: UpDecoderBlock2D[];
  /** Final GroupNorm (ε = 1e-6), followed by a SiLU. */
  readonly conv_norm_out: GroupNorm;
  /** 3×3 conv from the first width to the image channels. */
  readonly conv_out: Conv2d;
  constructor(cfg: AutoencoderKLConfig) {
    super();
    const widths = [...cfg.blockOutChannels].reverse(), g = cfg.normNumGroups;
    this.conv_in = this.child('conv_in', new Conv2d(cfg.latentChannels, widths[0]!, 3, { padding: 1 }));
    this.mid_block = this.child('mid_block', new VaeMidBlock2D(widths[0]!, g, cfg.midBlockAddAttention));
    const blocks = this.child('up_blocks', new ModuleList());
    this.up_blocks = widths.map((w, i) =>
      blocks.add(String(i), new UpDecoderBlock2D(i === 0 ? widths[0]! : widths[i - 1]!, w, cfg.layersPerBlock + 1, g, i < widths.length - 1)));
    const last = widths[widths.length - 1]!;
    this.conv_norm_out = this.child('conv_norm_out', new GroupNorm(g, last, VAE_EPS));
    this.conv_out = this.child('conv_out', new Conv2d(last, cfg.outChannels, 3, { padding: 1 }));
  }

  /**
   * Runs the decoder (post_quant_conv already applied).
   * @param z - Latents [N, latent, h, w] in the VAE's own space.
   * @param hook - Receives `${prefix}.conv_in`, `.mid_block`, `.up_blocks.i`, `.conv_norm_out` (before the SiLU) and
   *   `.conv_out`.
   * @param prefix - Name prefix for the hook (default `decoder`).
   * @returns The image [N, out, h·f, w·f], about [−1, 1], not clamped.
   */
  forward(z: Tensor, hook?: VaeHook, prefix = 'decoder'): Tensor {
    return tidy(() => {
      const emit = (name: string, y: Tensor) => { hook?.(`${prefix}.${name}`, y); return y; };
      let h = emit('conv_in', this.scoped('conv_in', () => this.conv_in.forward(z)));
      h = emit('mid_block', this.scoped('mid_block', () => this.mid_block.forward(h)));
      this.up_blocks.forEach((b, i) => { h = emit(`up_blocks.${i}`, this.scoped(`up_blocks.${i}`, () => b.forward(h))); });
      h = this.scoped('conv_norm_out', () => normOutSilu(this.conv_norm_out, h, `${prefix}.conv_norm_out`, hook));
      return emit('conv_out', this.scoped('conv_out', () => this.conv_out.forward(h)));
    });
  }
}

/** diffusers' AutoencoderKL (the SD VAE). Build from a config, then load weights (see {@link loadVae}). */
export class AutoencoderKL extends Module {
  /** The parsed configuration the model was built from (a private copy). */
  readonly config: AutoencoderKLConfig;
  /** The encoder (image → moments before quant_conv). */
  readonly encoder: VaeEncoder;
  /** The decoder (latents after post_quant_conv → image). */
  readonly decoder: VaeDecoder;
  /** 1×1 conv on the 2·latent moments; null when use_quant_conv is false. */
  readonly quant_conv: Conv2d | null;
  /** 1×1 conv on the latents before decoding; null when use_post_quant_conv is false. */
  readonly post_quant_conv: Conv2d | null;

  /** `config`: a diffusers AutoencoderKL config object (default: SD 1.x's VAE) or a parsed config. */
  constructor(config: Record<string, unknown> | AutoencoderKLConfig = SD15_VAE_CONFIG) {
    super();
    this.config = isParsed(config) ? { ...config, blockOutChannels: [...config.blockOutChannels] } : parseAutoencoderKLConfig(config);
    const latent = this.config.latentChannels;
    this.encoder = this.child('encoder', new VaeEncoder(this.config));
    this.decoder = this.child('decoder', new VaeDecoder(this.config));
    this.quant_conv = this.config.useQuantConv ? this.child('quant_conv', new Conv2d(2 * latent, 2 * latent, 1)) : null;
    this.post_quant_conv = this.config.usePostQuantConv ? this.child('post_quant_conv', new Conv2d(latent, latent, 1)) : null;
  }

  /** Spatial factor between image and latents (8 for SD). */
  get downsampleFactor(): number {
    return 2 ** (this.config.blockOutChannels.length - 1);
  }

  /**
   * latents [N, latent, h, w] in the VAE's own space (diffusion latents / scaling_factor) → image
   * [N, out, h·f, w·f] in about [−1, 1] (not clamped).
   */
  decode(latents: Tensor, opts: VaeForwardOptions = {}): Tensor {
    checkInput(latents, this.config.latentChannels, 'AutoencoderKL.decode: latents');
    const hook = checkHook(opts, 'AutoencoderKL.decode');
    return tidy(() => {
      let z = latents;
      if (this.post_quant_conv) {
        z = this.scoped('post_quant_conv', () => this.post_quant_conv!.forward(latents));
        hook?.('post_quant_conv', z);
      }
      return this.scoped('decoder', () => this.decoder.forward(z, hook));
    });
  }

  /**
   * image [N, in, H, W] in [−1, 1] → the latent Gaussian (moments, mean, clamped logvar) at H/f × W/f (each
   * downsampling maps a size s to ⌊(s − 1)/2⌋ + 1, as in diffusers). The latents are not scaled: multiply the mean
   * (or a sample) by scaling_factor for the diffusion space.
   */
  encode(image: Tensor, opts: VaeForwardOptions = {}): VaeEncoding {
    checkInput(image, this.config.inChannels, 'AutoencoderKL.encode: image');
    const hook = checkHook(opts, 'AutoencoderKL.encode');
    return tidy(() => {
      let moments = this.scoped('encoder', () => this.encoder.forward(image, hook));
      if (this.quant_conv) {
        moments = this.scoped('quant_conv', () => this.quant_conv!.forward(moments));
        hook?.('quant_conv', moments);
      }
      const c = this.config.latentChannels;
      const mean = ops.slice(moments, 1, 0, c);
      const logvar = clamp(ops.slice(moments, 1, c, 2 * c), -30, 20);
      return { moments, mean, logvar };
    });
  }
}

/**
 * min(max(x, lo), hi) on x's device, from ReLUs: x − relu(x − hi) + relu(lo − x). Values inside [lo, hi] come
 * back exactly; values outside land on the bound up to one rounding.
 */
function clamp(x: Tensor, lo: number, hi: number): Tensor {
  return tidy(() => {
    const over = ops.relu(ops.scale(x, 1, -hi));
    const under = ops.relu(ops.scale(x, -1, lo));
    return ops.add(ops.sub(x, over), under);
  });
}

function isParsed(c: Record<string, unknown> | AutoencoderKLConfig): c is AutoencoderKLConfig {
  return Array.isArray((c as AutoencoderKLConfig).blockOutChannels) && typeof (c as AutoencoderKLConfig).latentChannels === 'number';
}

function checkInput(x: Tensor, channels: number, what: string): void {
  check(x instanceof Tensor || (x !== null && typeof x === 'object' && (x as { isTensor?: unknown }).isTensor === true), 'ARG',
    () => `${what} must be a Tensor`);
  check(x.rank === 4 && x.shape[1] === channels, 'SHAPE', () => `${what} must be [N, ${channels}, H, W], got ${shapeStr(x.shape)}`);
  check(x.shape[2]! >= 1 && x.shape[3]! >= 1, 'SHAPE', () => `${what} must have a non-empty image, got ${shapeStr(x.shape)}`);
}

function checkHook(opts: VaeForwardOptions, what: string): VaeHook | undefined {
  check(opts !== null && typeof opts === 'object', 'ARG', () => `${what}: options must be an object`);
  check(opts.hook === undefined || typeof opts.hook === 'function', 'ARG', () => `${what}: hook must be a function`);
  return opts.hook;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The VAE folder: `folder` itself when it has config.json, else its `vae/` subfolder when `folder` is a pipeline
 * root (model_index.json). Throws IO otherwise.
 */
function resolveVaeFolder(folder: string): string {
  if (!isFile(nodePath.join(folder, 'config.json')) && isFile(nodePath.join(folder, 'model_index.json'))) {
    const inner = nodePath.join(folder, 'vae');
    if (!isFile(nodePath.join(inner, 'config.json'))) {
      throw new HgcError('IO', `pipeline folder ${folder}: no vae/config.json (model_index.json is there, the vae is not)`);
    }
    return inner;
  }
  if (!isFile(nodePath.join(folder, 'config.json'))) {
    throw new HgcError('IO', `VAE folder ${folder}: config.json is missing${fs.existsSync(folder) ? '' : ' (the folder does not exist)'}`);
  }
  return folder;
}

/**
 * An AutoencoderKL from a diffusers folder (`config.json` + `diffusion_pytorch_model.safetensors`, a variant or a
 * sharded index, as for the UNet) or a pipeline root with a `vae/` subfolder. Parameters are f32 on the CPU unless
 * `opts` says otherwise. Problems with the folder or its files are HgcError('IO'); a config describing another
 * class is IO too, an unsupported architecture ARG.
 */
export function loadVae(folder: string, opts: ModelFolderOptions = {}): AutoencoderKL {
  check(typeof folder === 'string' && folder.length > 0, 'ARG', 'loadVae: folder must be a non-empty string');
  const dir = resolveVaeFolder(folder);
  const file = nodePath.join(dir, 'config.json');
  const json = readJsonFile(file);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new HgcError('IO', `${file}: must be a JSON object`);
  const cls = (json as Record<string, unknown>)._class_name;
  if (cls !== undefined && cls !== 'AutoencoderKL') throw new HgcError('IO', `${file}: describes a ${String(cls)}, not an AutoencoderKL`);
  const config = json as Record<string, unknown>;
  return buildAndLoad(() => new AutoencoderKL(config), () => openModelFolderWeights(dir, opts), { strict: opts.strict ?? true });
}
