/** The basic layers, with diffusers' parameter names: Linear, Conv2d, GroupNorm, LayerNorm. */
import type { Activation } from '../ops/matmul.js';
import * as ops from '../ops/index.js';
import type { Tensor } from '../tensor.js';
import { Module, type Parameter, weight } from './module.js';

/** y = x·Wᵀ + b over the last axis (PyTorch's nn.Linear; parameters `weight` [out, in] and `bias` [out]). */
export class Linear extends Module {
  /** The weight [outFeatures, inFeatures]. */
  readonly weight: Parameter;
  /** The bias [outFeatures]; null for a layer built without bias. */
  readonly bias: Parameter | null;
  /**
   * @param inFeatures - Width of the input's last axis.
   * @param outFeatures - Width of the output's last axis.
   * @param bias - Whether the layer has a bias (default true).
   */
  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures]);
    this.bias = bias ? this.param('bias', [outFeatures]) : null;
  }
  /**
   * x [..., inFeatures] → [..., outFeatures].
   * @param opts - An activation fused after the bias, and a residual [..., outFeatures] added last.
   */
  forward(x: Tensor, opts: { activation?: Activation; residual?: Tensor } = {}): Tensor {
    return ops.linear(x, weight(this.weight, 'weight'), { bias: this.bias ? weight(this.bias, 'bias') : undefined, ...opts });
  }
}

/**
 * 2-D convolution over NCHW tensors with a square kernel (PyTorch's nn.Conv2d; parameters `weight` [out, in, k, k] and
 * `bias` [out]).
 */
export class Conv2d extends Module {
  /** The weight [outChannels, inChannels, kernel, kernel]. */
  readonly weight: Parameter;
  /** The bias [outChannels]; null when built with `bias: false`. */
  readonly bias: Parameter | null;
  /**
   * @param inChannels - Input channels.
   * @param outChannels - Output channels.
   * @param kernel - Kernel size k (a k×k kernel).
   * @param opts - Stride, padding and bias.
   */
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernel: number,
    readonly opts: {
      /** Stride in both directions (default 1). */
      stride?: number;
      /** Zero padding on every side (default 0). */
      padding?: number;
      /** Whether the layer has a bias (default true). */
      bias?: boolean;
    } = {}) {
    super();
    this.weight = this.param('weight', [outChannels, inChannels, kernel, kernel]);
    this.bias = opts.bias ?? true ? this.param('bias', [outChannels]) : null;
  }
  /**
   * x [N, inChannels, H, W] → [N, outChannels, H', W']; `residual` (the output's shape), if given, is added in the same
   * kernel.
   */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return ops.conv2d(x, weight(this.weight, 'weight'), {
      stride: this.opts.stride ?? 1, padding: this.opts.padding ?? 0, bias: this.bias ? weight(this.bias, 'bias') : undefined, residual,
    });
  }
}

/**
 * Group normalisation over NCHW tensors with a per-channel affine (PyTorch's nn.GroupNorm; parameters `weight` and
 * `bias` [channels]).
 */
export class GroupNorm extends Module {
  /** Per-channel scale [channels]. */
  readonly weight: Parameter;
  /** Per-channel shift [channels]. */
  readonly bias: Parameter;
  /**
   * @param groups - Number of groups (must divide `channels`).
   * @param channels - Channels C of the input.
   * @param eps - Added to the variance (default 1e-5).
   */
  constructor(readonly groups: number, readonly channels: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param('weight', [channels]);
    this.bias = this.param('bias', [channels]);
  }
  /** x [N, C, ...] → normalised x of the same shape, followed by a fused SiLU when `silu` is true. */
  forward(x: Tensor, silu = false): Tensor {
    return ops.groupNorm(x, this.groups, { weight: weight(this.weight, 'weight'), bias: weight(this.bias, 'bias'), eps: this.eps, silu });
  }
}

/**
 * Layer normalisation over the last axis with an affine (PyTorch's nn.LayerNorm; parameters `weight` and `bias` [dim]).
 */
export class LayerNorm extends Module {
  /** Scale [dim]. */
  readonly weight: Parameter;
  /** Shift [dim]. */
  readonly bias: Parameter;
  /**
   * @param dim - Width of the normalised last axis.
   * @param eps - Added to the variance (default 1e-5).
   */
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param('weight', [dim]);
    this.bias = this.param('bias', [dim]);
  }
  /** x [..., dim] → normalised x of the same shape. */
  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, { weight: weight(this.weight, 'weight'), bias: weight(this.bias, 'bias'), eps: this.eps });
  }
}
