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
import { ModuleList } from './attention.js';
import { type BlockHook, DownBlock, MidBlock, UpBlock } from './blocks.js';
import { type UNetConfig, parseUNetConfig } from './config.js';
import { TimestepEmbedding, embedTimestep } from './embeddings.js';

/** Options of {@link UNet2DConditionModel.forward}. */
export interface UNetForwardOptions {
  /** ControlNet residuals for the skip tensors, in down-path order (conv_in first). */
  downResiduals?: readonly Tensor[];
  /** ControlNet residual for the mid-block output. */
  midResidual?: Tensor;
  /** A precomputed time embedding [B, 4·C0] (shared with the ControlNet in a step). */
  temb?: Tensor;
  /** Receives intermediate outputs by diffusers module path (for tests and probes). */
  hook?: BlockHook;
}

export class UNet2DConditionModel extends Module {
  readonly config: UNetConfig;
  readonly conv_in: Conv2d;
  readonly time_embedding: TimestepEmbedding;
  readonly down_blocks: DownBlock[] = [];
  readonly mid_block: MidBlock;
  readonly up_blocks: UpBlock[] = [];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

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
  }

  /** The time embedding [batch, 4·C0] of timestep t (time_proj + MLP). */
  timeEmbedding(t: number, batch: number, device: Tensor['device'], hook?: BlockHook): Tensor {
    return this.scoped('time_embedding', () => embedTimestep(this.time_embedding, t, batch, this.config.blockOutChannels[0]!, {
      flipSinToCos: this.config.flipSinToCos, freqShift: this.config.freqShift, device, hook,
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
    const hook = opts.hook;
    const batch = sample.shape[0]!;
    const temb = opts.temb ?? this.timeEmbedding(timestep, batch, sample.device, hook);
    const owned: Tensor[] = opts.temb ? [] : [temb];
    try {
      let h = this.scoped('conv_in', () => this.conv_in.forward(sample));
      hook?.('conv_in', h);
      const skips: Tensor[] = [h];
      owned.push(h);
      this.down_blocks.forEach((blk, i) => {
        const r = this.scoped(`down_blocks.${i}`, () => blk.forward(h, temb, context, prefixed(hook, `down_blocks.${i}`)));
        if (hook) {
          hook(`down_blocks.${i}.out`, r.out);
          r.skips.forEach((s, j) => hook(`down_blocks.${i}.res${j}`, s));
        }
        skips.push(...r.skips);
        owned.push(...r.skips);
        h = r.out;
      });
      if (opts.downResiduals) {
        check(opts.downResiduals.length === skips.length, 'SHAPE',
          () => `UNet: ${opts.downResiduals!.length} down residuals given, the model has ${skips.length} skip connections`);
        skips.forEach((s, i) => {
          const r = opts.downResiduals![i]!;
          check(r.shape.every((d, k) => d === s.shape[k]) && r.rank === s.rank, 'SHAPE',
            () => `UNet: down residual ${i} ${shapeStr(r.shape)} does not match skip ${shapeStr(s.shape)}`);
          skips[i] = ops.add(s, r);
          owned.push(skips[i]!);
        });
      }
      let mid = this.scoped('mid_block', () => this.mid_block.forward(h, temb, context, prefixed(hook, 'mid_block')));
      owned.push(mid);
      if (opts.midResidual) {
        check(opts.midResidual.rank === 4 && opts.midResidual.shape.every((d, k) => d === mid.shape[k]), 'SHAPE',
          () => `UNet: mid residual ${shapeStr(opts.midResidual!.shape)} does not match ${shapeStr(mid.shape)}`);
        mid = ops.add(mid, opts.midResidual);
        owned.push(mid);
      }
      hook?.('mid_block', mid);
      h = mid;
      this.up_blocks.forEach((blk, i) => {
        h = this.scoped(`up_blocks.${i}`, () => blk.forward(h, skips, temb, context, prefixed(hook, `up_blocks.${i}`)));
        owned.push(h);
        hook?.(`up_blocks.${i}`, h);
      });
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
}

/** A hook that reports names under `prefix`, or undefined. */
export function prefixed(hook: BlockHook | undefined, prefix: string): BlockHook | undefined {
  return hook ? (name, t) => hook(`${prefix}.${name}`, t) : undefined;
}
