/** The time embedding of the UNet and ControlNet: sinusoidal projection, then Linear → SiLU → Linear. */
import { tensor } from '../creation.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import type { Device, Tensor } from '../tensor.js';

/** diffusers' TimestepEmbedding: the MLP applied to the sinusoidal timestep projection (linear_1 → SiLU → linear_2). */
export class TimestepEmbedding extends Module {
  /** inDim → dim, with bias; the SiLU is fused into it. */
  readonly linear_1: Linear;
  /** dim → dim, with bias. */
  readonly linear_2: Linear;
  constructor(inDim: number, dim: number) {
    super();
    this.linear_1 = this.child('linear_1', new Linear(inDim, dim));
    this.linear_2 = this.child('linear_2', new Linear(dim, dim));
  }
  /** proj [B, inDim] (the sinusoidal projection) → [B, dim]. */
  forward(x: Tensor): Tensor {
    const h = this.scoped('linear_1', () => this.linear_1.forward(x, { activation: 'silu' }));
    try {
      return this.scoped('linear_2', () => this.linear_2.forward(h));
    } finally {
      h.dispose();
    }
  }
}

/**
 * emb [batch, timeEmbedDim] for timestep t: time_proj (sinusoidal, f32 as diffusers computes it) then the MLP.
 * The result depends only on t, so callers compute it once per step and share it (an exact cache).
 */
export function embedTimestep(embedding: TimestepEmbedding, t: number, batch: number, projDim: number,
  opts: { flipSinToCos: boolean; freqShift: number; device: Device; dtype?: 'f32' | 'f16' | 'bf16'; hook?: (name: string, t: Tensor) => void }): Tensor {
  const ts = tensor(new Array(batch).fill(t), [batch], { device: opts.device });
  const proj = ops.timestepEmbedding(ts, projDim, { flipSinToCos: opts.flipSinToCos, downscaleFreqShift: opts.freqShift });
  ts.dispose();
  opts.hook?.('time_proj', proj);
  const projCast = opts.dtype && opts.dtype !== 'f32' ? proj.cast(opts.dtype) : proj;
  if (projCast !== proj) proj.dispose();
  try {
    const emb = embedding.forward(projCast);
    opts.hook?.('time_embedding', emb);
    return emb;
  } finally {
    projCast.dispose();
  }
}
