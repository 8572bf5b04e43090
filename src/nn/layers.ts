/** The basic layers, with diffusers' parameter names: Linear, Conv2d, GroupNorm, LayerNorm. */
import type { Activation } from '../ops/matmul.js';
import * as ops from '../ops/index.js';
import type { Tensor } from '../tensor.js';
import { Module, type Parameter, weight } from './module.js';

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures]);
    this.bias = bias ? this.param('bias', [outFeatures]) : null;
  }
  forward(x: Tensor, opts: { activation?: Activation; residual?: Tensor } = {}): Tensor {
    return ops.linear(x, weight(this.weight, 'weight'), { bias: this.bias ? weight(this.bias, 'bias') : undefined, ...opts });
  }
}

export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernel: number,
    readonly opts: { stride?: number; padding?: number; bias?: boolean } = {}) {
    super();
    this.weight = this.param('weight', [outChannels, inChannels, kernel, kernel]);
    this.bias = opts.bias ?? true ? this.param('bias', [outChannels]) : null;
  }
  forward(x: Tensor, residual?: Tensor): Tensor {
    return ops.conv2d(x, weight(this.weight, 'weight'), {
      stride: this.opts.stride ?? 1, padding: this.opts.padding ?? 0, bias: this.bias ? weight(this.bias, 'bias') : undefined, residual,
    });
  }
}

export class GroupNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(readonly groups: number, readonly channels: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param('weight', [channels]);
    this.bias = this.param('bias', [channels]);
  }
  forward(x: Tensor, silu = false): Tensor {
    return ops.groupNorm(x, this.groups, { weight: weight(this.weight, 'weight'), bias: weight(this.bias, 'bias'), eps: this.eps, silu });
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param('weight', [dim]);
    this.bias = this.param('bias', [dim]);
  }
  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, { weight: weight(this.weight, 'weight'), bias: weight(this.bias, 'bias'), eps: this.eps });
  }
}
