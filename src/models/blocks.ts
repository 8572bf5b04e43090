/**
 * The UNet's down, mid and up blocks (CrossAttnDownBlock2D, DownBlock2D, UNetMidBlock2DCrossAttn,
 * UpBlock2D, CrossAttnUpBlock2D), with diffusers' channel bookkeeping and parameter names.
 */
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import type { Tensor } from '../tensor.js';
import { ModuleList, Transformer2DModel } from './attention.js';
import type { UNetConfig } from './config.js';
import { Downsample2D, ResnetBlock2D, Upsample2D } from './resnet.js';

/** Called with (module path relative to the model, output) after every block part; used by tests and probes. */
export type BlockHook = (name: string, output: Tensor) => void;

/**
 * A UNet/ControlNet down block (CrossAttnDownBlock2D or DownBlock2D): layersPerBlock resnets, each followed by a
 * Transformer2DModel in the cross-attention variant, then an optional stride-2 downsampler.
 */
export class DownBlock extends Module {
  /** The resnets (`resnets.i`); the first maps the input width to the output width. */
  readonly resnets: ResnetBlock2D[] = [];
  /** One Transformer2DModel per resnet (`attentions.i`); empty for DownBlock2D. */
  readonly attentions: Transformer2DModel[] = [];
  /** The stride-2 conv (`downsamplers.0`); null in the last block. */
  readonly downsampler: Downsample2D | null;
  constructor(cfg: UNetConfig, inChannels: number, outChannels: number, heads: number, crossAttn: boolean, addDownsample: boolean) {
    super();
    const resnets = this.child('resnets', new ModuleList());
    const attns = crossAttn ? this.child('attentions', new ModuleList()) : null;
    const temb = cfg.blockOutChannels[0]! * 4;
    for (let i = 0; i < cfg.layersPerBlock; i++) {
      this.resnets.push(resnets.add(String(i), new ResnetBlock2D(i === 0 ? inChannels : outChannels, outChannels, temb, cfg.normNumGroups, cfg.normEps)));
      if (attns) this.attentions.push(attns.add(String(i), new Transformer2DModel(outChannels, heads, cfg.crossAttentionDim, cfg.normNumGroups, cfg.useLinearProjection)));
    }
    this.downsampler = addDownsample
      ? this.child('downsamplers', new ModuleList()).add('0', new Downsample2D(outChannels, cfg.downsamplePadding))
      : null;
  }

  /** Layers of this block: each (resnet[, attention]) pair, then the downsampler if any. Each yields a skip. */
  get layerCount(): number {
    return this.resnets.length + (this.downsampler ? 1 : 0);
  }

  /** Runs layer `j` on h (h is not disposed). */
  runLayer(j: number, h: Tensor, temb: Tensor, context: Tensor, hook?: BlockHook): Tensor {
    if (j >= this.resnets.length) {
      const ds = this.downsampler!;
      const out = this.scoped('downsamplers.0', () => ds.forward(h));
      hook?.('downsamplers.0', out);
      return out;
    }
    const r = this.scoped(`resnets.${j}`, () => this.resnets[j]!.forward(h, temb));
    hook?.(`resnets.${j}`, r);
    const attn = this.attentions[j];
    if (!attn) return r;
    const a = this.scoped(`attentions.${j}`, () => attn.forward(r, context));
    r.dispose();
    hook?.(`attentions.${j}`, a);
    return a;
  }

  /** Returns the block output and its skip tensors (one per layer); the caller owns the skips. */
  forward(x: Tensor, temb: Tensor, context: Tensor, hook?: BlockHook): {
    /** The block output (the same tensor as the last skip). */
    out: Tensor;
    /** Each layer's output, in order (one per layer). */
    skips: Tensor[];
  } {
    const skips: Tensor[] = [];
    let h = x;
    for (let j = 0; j < this.layerCount; j++) {
      h = this.runLayer(j, h, temb, context, hook);
      skips.push(h);
    }
    return { out: h, skips };
  }
}

/** UNetMidBlock2DCrossAttn: resnet, Transformer2DModel, resnet, at the lowest resolution and the last width. */
export class MidBlock extends Module {
  /** The two resnets (`resnets.0`, `resnets.1`). */
  readonly resnets: ResnetBlock2D[];
  /** The Transformer2DModel between them (`attentions.0`). */
  readonly attention: Transformer2DModel;
  constructor(cfg: UNetConfig) {
    super();
    const ch = cfg.blockOutChannels[cfg.blockOutChannels.length - 1]!;
    const heads = cfg.heads[cfg.heads.length - 1]!;
    const temb = cfg.blockOutChannels[0]! * 4;
    const resnets = this.child('resnets', new ModuleList());
    this.attention = this.child('attentions', new ModuleList()).add('0', new Transformer2DModel(ch, heads, cfg.crossAttentionDim, cfg.normNumGroups, cfg.useLinearProjection));
    this.resnets = [0, 1].map((i) => resnets.add(String(i), new ResnetBlock2D(ch, ch, temb, cfg.normNumGroups, cfg.normEps)));
  }
  /** x [B, C, h, w] → [B, C, h, w]; `hook` sees `resnets.0`, `attentions.0`, `resnets.1`. */
  forward(x: Tensor, temb: Tensor, context: Tensor, hook?: BlockHook): Tensor {
    const a = this.scoped('resnets.0', () => this.resnets[0]!.forward(x, temb));
    hook?.('resnets.0', a);
    const b = this.scoped('attentions.0', () => this.attention.forward(a, context));
    hook?.('attentions.0', b);
    a.dispose();
    try {
      const c = this.scoped('resnets.1', () => this.resnets[1]!.forward(b, temb));
      hook?.('resnets.1', c);
      return c;
    } finally {
      b.dispose();
    }
  }
}

/**
 * A UNet up block (CrossAttnUpBlock2D or UpBlock2D): layersPerBlock + 1 resnets over [h, skip] concatenations, each
 * followed by a Transformer2DModel in the cross-attention variant, then an optional nearest 2× upsampler.
 */
export class UpBlock extends Module {
  /** The resnets (`resnets.i`); resnet i takes the previous output concatenated with one skip from the down path. */
  readonly resnets: ResnetBlock2D[] = [];
  /** One Transformer2DModel per resnet (`attentions.i`); empty for UpBlock2D. */
  readonly attentions: Transformer2DModel[] = [];
  /** Nearest 2× upsampling + 3×3 conv (`upsamplers.0`), run after the last layer; null in the last block. */
  readonly upsampler: Upsample2D | null;
  constructor(cfg: UNetConfig, inChannels: number, outChannels: number, prevOutput: number, heads: number, crossAttn: boolean, addUpsample: boolean) {
    super();
    const layers = cfg.layersPerBlock + 1;
    const resnets = this.child('resnets', new ModuleList());
    const attns = crossAttn ? this.child('attentions', new ModuleList()) : null;
    const temb = cfg.blockOutChannels[0]! * 4;
    for (let i = 0; i < layers; i++) {
      const skipCh = i === layers - 1 ? inChannels : outChannels;
      const resIn = i === 0 ? prevOutput : outChannels;
      this.resnets.push(resnets.add(String(i), new ResnetBlock2D(resIn + skipCh, outChannels, temb, cfg.normNumGroups, cfg.normEps)));
      if (attns) this.attentions.push(attns.add(String(i), new Transformer2DModel(outChannels, heads, cfg.crossAttentionDim, cfg.normNumGroups, cfg.useLinearProjection)));
    }
    this.upsampler = addUpsample ? this.child('upsamplers', new ModuleList()).add('0', new Upsample2D(outChannels)) : null;
  }

  /** Layers of this block (one per resnet); each consumes one skip tensor. */
  get layerCount(): number {
    return this.resnets.length;
  }

  /** Layer `j`: resnet(concat(h, skip)) [+ attention], then the upsampler after the last layer. h is kept. */
  runLayer(j: number, h: Tensor, skip: Tensor, temb: Tensor, context: Tensor, hook?: BlockHook): Tensor {
    const cat = ops.concat([h, skip], 1);
    let out = this.scoped(`resnets.${j}`, () => this.resnets[j]!.forward(cat, temb));
    cat.dispose();
    hook?.(`resnets.${j}`, out);
    const attn = this.attentions[j];
    if (attn) {
      const a = this.scoped(`attentions.${j}`, () => attn.forward(out, context));
      out.dispose();
      out = a;
      hook?.(`attentions.${j}`, out);
    }
    if (j === this.resnets.length - 1 && this.upsampler) {
      const up = this.upsampler;
      const u = this.scoped('upsamplers.0', () => up.forward(out));
      out.dispose();
      out = u;
      hook?.('upsamplers.0', out);
    }
    return out;
  }
}
