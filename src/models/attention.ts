/**
 * The transformer parts of the SD1.5 UNet, as in diffusers: Attention (to_q/to_k/to_v/to_out.0),
 * FeedForward with GEGLU, BasicTransformerBlock (self-attention, cross-attention, feed-forward, each with a
 * pre-LayerNorm and a residual) and Transformer2DModel (GroupNorm, proj_in, blocks, proj_out, residual).
 */
import { Conv2d, GroupNorm, LayerNorm, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';

/**
 * Takes over cross-attention layers while active (the fine-grained cache: exact K/V reuse, map
 * capture/replay, output reuse, fused outputs after the CFG gate). Self-attention is never routed here.
 */
export interface CrossAttentionController {
  /**
   * Computes one cross-attention layer in place of {@link Attention.forward}.
   * @param module - The layer (its projections, heads and `path`).
   * @param x - Normed hidden states [B, N, C].
   * @param context - Text embeddings [B, M, Cctx].
   * @param residual - Added to the output (the block's input before the norm).
   * @returns to_out(attention) + residual, [B, N, C].
   */
  crossAttention(module: Attention, x: Tensor, context: Tensor, residual: Tensor): Tensor;
}

let activeController: CrossAttentionController | undefined;

/** Runs `fn` with `controller` handling every cross-attention layer. */
export function withCrossAttentionController<T>(controller: CrossAttentionController | undefined, fn: () => T): T {
  const previous = activeController;
  activeController = controller;
  try {
    return fn();
  } finally {
    activeController = previous;
  }
}

/**
 * diffusers' Attention as the SD1.5 UNet uses it: bias-free q/k/v projections, multi-head attention, biased `to_out.0`;
 * cross-attention when given a context.
 */
export class Attention extends Module {
  /** Module path in the model ('unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2'), set by the model. */
  path = '';
  /** Query projection, queryDim → queryDim, no bias. */
  readonly to_q: Linear;
  /** Key projection, contextDim → queryDim, no bias. */
  readonly to_k: Linear;
  /** Value projection, contextDim → queryDim, no bias. */
  readonly to_v: Linear;
  /** Output projection (`to_out.0`), queryDim → queryDim, with bias. */
  readonly to_out: Linear;
  /**
   * @param queryDim - Width C of the hidden states (and of q, k, v).
   * @param contextDim - Width of the context (queryDim for self-attention, 768 for SD1.5 cross-attention).
   * @param heads - Number of heads (must divide queryDim).
   */
  constructor(readonly queryDim: number, contextDim: number, readonly heads: number) {
    super();
    this.to_q = this.child('to_q', new Linear(queryDim, queryDim, false));
    this.to_k = this.child('to_k', new Linear(contextDim, queryDim, false));
    this.to_v = this.child('to_v', new Linear(contextDim, queryDim, false));
    // diffusers keeps the output projection in a ModuleList (to_out.0) next to a dropout (to_out.1).
    const toOut = this.child('to_out', new ModuleList());
    this.to_out = toOut.add('0', new Linear(queryDim, queryDim));
  }

  /** x [B, N, C]; context [B, M, Cctx] (self-attention when omitted); residual added to the output. */
  forward(x: Tensor, context: Tensor | undefined, residual: Tensor): Tensor {
    if (context && activeController) return activeController.crossAttention(this, x, context, residual);
    return tidy(() => {
      const ctx = context ?? x;
      const q = this.scoped('to_q', () => this.to_q.forward(x));
      const k = this.scoped('to_k', () => this.to_k.forward(ctx));
      const v = this.scoped('to_v', () => this.to_v.forward(ctx));
      const o = ops.attention(q, k, v, { heads: this.heads });
      return this.scoped('to_out.0', () => this.to_out.forward(o, { residual }));
    });
  }

  /** k and v projections of a context [B, M, Cctx] (exact across steps: they depend only on the text). */
  keysValues(context: Tensor): {
    /** to_k(context), [B, M, queryDim]. */
    k: Tensor;
    /** to_v(context), [B, M, queryDim]. */
    v: Tensor;
  } {
    return {
      k: this.scoped('to_k', () => this.to_k.forward(context)),
      v: this.scoped('to_v', () => this.to_v.forward(context)),
    };
  }

  /** to_q of x. */
  query(x: Tensor): Tensor {
    return this.scoped('to_q', () => this.to_q.forward(x));
  }

  /** to_out of an attention result, optionally with the residual added. */
  output(o: Tensor, residual?: Tensor): Tensor {
    return this.scoped('to_out.0', () => this.to_out.forward(o, { residual }));
  }
}

/** Sets `path` on every Attention below `root`, prefixed with `prefix`. */
export function assignAttentionPaths(root: Module, prefix: string): void {
  for (const [path, m] of root.namedModules(prefix)) if (m instanceof Attention) m.path = path;
}

/** A container whose children are named 0, 1, … (diffusers' ModuleList). */
export class ModuleList extends Module {
  /** Registers `m` as the child `name` and returns it. */
  add<M extends Module>(name: string, m: M): M {
    return this.child(name, m);
  }
}

/** diffusers' FeedForward with GEGLU: `net.0.proj` (dim → 2·inner), GEGLU, `net.2` (inner → dim), inner = mult·dim. */
export class FeedForward extends Module {
  /** The GEGLU input projection `net.0.proj`, dim → 2·inner, with bias. */
  readonly proj: Linear;
  /** The output projection `net.2`, inner → dim, with bias; the residual is added in the same kernel. */
  readonly out: Linear;
  constructor(dim: number, mult = 4) {
    super();
    const inner = dim * mult;
    const net = this.child('net', new ModuleList());
    const geglu = net.add('0', new GegluProj(dim, inner));
    this.proj = geglu.proj;
    this.out = net.add('2', new Linear(inner, dim));
  }
  /** x [B, N, dim] → net.2(geglu(net.0.proj(x))) + residual. */
  forward(x: Tensor, residual: Tensor): Tensor {
    return tidy(() => {
      const h = this.scoped('net.0.proj', () => this.proj.forward(x));
      return this.scoped('net.2', () => this.out.forward(ops.geglu(h), { residual }));
    });
  }
}

class GegluProj extends Module {
  readonly proj: Linear;
  constructor(dim: number, inner: number) {
    super();
    this.proj = this.child('proj', new Linear(dim, inner * 2));
  }
}

/**
 * diffusers' BasicTransformerBlock: self-attention, cross-attention and feed-forward, each after a LayerNorm and with a
 * residual.
 */
export class BasicTransformerBlock extends Module {
  /** LayerNorm before the self-attention. */
  readonly norm1: LayerNorm;
  /** Self-attention. */
  readonly attn1: Attention;
  /** LayerNorm before the cross-attention. */
  readonly norm2: LayerNorm;
  /** Cross-attention over the text context (the layers the fine-grained cache takes over). */
  readonly attn2: Attention;
  /** LayerNorm before the feed-forward. */
  readonly norm3: LayerNorm;
  /** GEGLU feed-forward (inner width 4·dim). */
  readonly ff: FeedForward;
  constructor(dim: number, heads: number, crossDim: number) {
    super();
    this.norm1 = this.child('norm1', new LayerNorm(dim));
    this.attn1 = this.child('attn1', new Attention(dim, dim, heads));
    this.norm2 = this.child('norm2', new LayerNorm(dim));
    this.attn2 = this.child('attn2', new Attention(dim, crossDim, heads));
    this.norm3 = this.child('norm3', new LayerNorm(dim));
    this.ff = this.child('ff', new FeedForward(dim));
  }
  /** tokens [B, N, dim], context [B, M, crossDim] → [B, N, dim]. */
  forward(x: Tensor, context: Tensor): Tensor {
    return tidy(() => {
      const n1 = this.scoped('norm1', () => this.norm1.forward(x));
      let h = this.scoped('attn1', () => this.attn1.forward(n1, undefined, x));
      const n2 = this.scoped('norm2', () => this.norm2.forward(h));
      h = this.scoped('attn2', () => this.attn2.forward(n2, context, h));
      const n3 = this.scoped('norm3', () => this.norm3.forward(h));
      return this.scoped('ff', () => this.ff.forward(n3, h));
    });
  }
}

/**
 * diffusers' Transformer2DModel: GroupNorm (ε = 1e-6), proj_in, one BasicTransformerBlock over the H·W tokens,
 * proj_out, plus the input.
 */
export class Transformer2DModel extends Module {
  /** GroupNorm over the input channels, ε = 1e-6. */
  readonly norm: GroupNorm;
  /** Input projection: a 1×1 conv, or a Linear when linearProjection is set. */
  readonly proj_in: Conv2d | Linear;
  /** Output projection (1×1 conv or Linear, like proj_in); the input is added in the same kernel. */
  readonly proj_out: Conv2d | Linear;
  /** The transformer blocks (`transformer_blocks.N`; one in SD1.5). */
  readonly blocks: BasicTransformerBlock[];
  /**
   * @param channels - Channels C of the feature map (also the token width).
   * @param heads - Attention heads.
   * @param crossDim - Width of the cross-attention context.
   * @param groups - GroupNorm groups.
   * @param linearProjection - Whether proj_in/proj_out are Linear layers (config use_linear_projection) rather than 1×1
   *   convs.
   */
  constructor(channels: number, heads: number, crossDim: number, groups: number, readonly linearProjection: boolean) {
    super();
    this.norm = this.child('norm', new GroupNorm(groups, channels, 1e-6));
    this.proj_in = this.child('proj_in', linearProjection ? new Linear(channels, channels) : new Conv2d(channels, channels, 1));
    const list = this.child('transformer_blocks', new ModuleList());
    this.blocks = [list.add('0', new BasicTransformerBlock(channels, heads, crossDim))];
    this.proj_out = this.child('proj_out', linearProjection ? new Linear(channels, channels) : new Conv2d(channels, channels, 1));
  }

  /** x [B, C, H, W], context [B, M, Cctx] → [B, C, H, W] (with the input added back). */
  forward(x: Tensor, context: Tensor): Tensor {
    return tidy(() => {
      const [hgt, wid] = [x.shape[2]!, x.shape[3]!];
      const n = this.scoped('norm', () => this.norm.forward(x));
      let tokens: Tensor;
      if (this.proj_in instanceof Linear) {
        const lin = this.proj_in;
        tokens = this.scoped('proj_in', () => lin.forward(ops.nchwToTokens(n)));
      } else {
        const conv = this.proj_in;
        tokens = ops.nchwToTokens(this.scoped('proj_in', () => conv.forward(n)));
      }
      this.blocks.forEach((blk, i) => {
        tokens = this.scoped(`transformer_blocks.${i}`, () => blk.forward(tokens, context));
      });
      if (this.proj_out instanceof Linear) {
        const lin = this.proj_out;
        const res = ops.nchwToTokens(x);
        return ops.tokensToNchw(this.scoped('proj_out', () => lin.forward(tokens, { residual: res })), hgt, wid);
      }
      const conv = this.proj_out;
      return this.scoped('proj_out', () => conv.forward(ops.tokensToNchw(tokens, hgt, wid), x));
    });
  }
}
