/** ResnetBlock2D (with time embedding), Downsample2D and Upsample2D, as in diffusers. */
import { Conv2d, GroupNorm, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';

/**
 * diffusers' ResnetBlock2D with a time embedding: GN+SiLU → conv → + time_emb_proj(SiLU(temb)) → GN+SiLU → conv, plus
 * the (projected) input.
 */
export class ResnetBlock2D extends Module {
  /** GroupNorm over the input channels, fused with the SiLU that follows it. */
  readonly norm1: GroupNorm;
  /** 3×3 conv, padding 1, input → output channels. */
  readonly conv1: Conv2d;
  /** Linear from the time embedding width (4 × first width) to the output channels; added per channel after conv1. */
  readonly time_emb_proj: Linear;
  /** GroupNorm over the output channels, fused with its SiLU. */
  readonly norm2: GroupNorm;
  /** 3×3 conv, padding 1, output → output channels; the skip is added in the same kernel. */
  readonly conv2: Conv2d;
  /** 1×1 conv projecting the input onto the output channels for the skip; null when the widths match. */
  readonly conv_shortcut: Conv2d | null;
  constructor(inChannels: number, outChannels: number, tembChannels: number, groups: number, eps: number) {
    super();
    this.norm1 = this.child('norm1', new GroupNorm(groups, inChannels, eps));
    this.conv1 = this.child('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1 }));
    this.time_emb_proj = this.child('time_emb_proj', new Linear(tembChannels, outChannels));
    this.norm2 = this.child('norm2', new GroupNorm(groups, outChannels, eps));
    this.conv2 = this.child('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1 }));
    this.conv_shortcut = inChannels !== outChannels ? this.child('conv_shortcut', new Conv2d(inChannels, outChannels, 1)) : null;
  }

  /** x [B, Cin, H, W], temb [B, T] (before SiLU). */
  forward(x: Tensor, temb: Tensor): Tensor {
    return tidy(() => {
      let h = this.scoped('norm1', () => this.norm1.forward(x, true));
      h = this.scoped('conv1', () => this.conv1.forward(h));
      const t = this.scoped('time_emb_proj', () => this.time_emb_proj.forward(ops.silu(temb)));
      h = ops.add(h, t.reshape([t.shape[0]!, t.shape[1]!, 1, 1]));
      h = this.scoped('norm2', () => this.norm2.forward(h, true));
      const skip = this.conv_shortcut ? this.scoped('conv_shortcut', () => this.conv_shortcut!.forward(x)) : x;
      return this.scoped('conv2', () => this.conv2.forward(h, skip));  // residual add fused into conv2
    });
  }
}

/** diffusers' Downsample2D: a stride-2 3×3 conv that halves the resolution. */
export class Downsample2D extends Module {
  /** Stride-2 3×3 conv, channels → channels, with the configured padding (1 for SD1.5). */
  readonly conv: Conv2d;
  constructor(channels: number, padding: number) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, channels, 3, { stride: 2, padding }));
  }
  /** x [B, C, H, W] → [B, C, H/2, W/2] (rounded as the conv rounds). */
  forward(x: Tensor): Tensor {
    return this.scoped('conv', () => this.conv.forward(x));
  }
}

/** diffusers' Upsample2D: nearest-neighbour 2× upsampling, then a 3×3 conv. */
export class Upsample2D extends Module {
  /** 3×3 conv, padding 1, channels → channels, applied after the upsampling. */
  readonly conv: Conv2d;
  constructor(channels: number) {
    super();
    this.conv = this.child('conv', new Conv2d(channels, channels, 3, { padding: 1 }));
  }
  /** x [B, C, H, W] → [B, C, 2H, 2W]. */
  forward(x: Tensor): Tensor {
    return tidy(() => this.scoped('conv', () => this.conv.forward(ops.upsampleNearest2x(x))));
  }
}
