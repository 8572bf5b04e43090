/**
 * Declared memory of the policies: bytes of what each keeps per generation (f32, batch 2), from the SD-style
 * layout — skip tensors at channels c_i and resolutions /2^i, cross-attention outputs per attention layer.
 */
import type { GenerationInfo } from '../policy.js';

type Info = GenerationInfo & { channels: number[] };

/** Sizes of the 12 skip tensors (elements per image) of an SD-style UNet. */
function skipSizes(info: Info): number[] {
  const out = [info.channels[0]! * info.latentHeight * info.latentWidth];
  info.channels.forEach((c, level) => {
    const hw = (info.latentHeight >> level) * (info.latentWidth >> level);
    out.push(c * hw, c * hw);
    if (level < info.channels.length - 1) out.push(c * (hw >> 2));
  });
  return out;
}

const BYTES = 4 * 2;  // f32, batch 2

/** h_b, the probe and the residuals of skips 0..b (ControlNet residuals when `residuals`). */
export function branchBytes(info: Info, branch: number, residuals: boolean): number {
  const skips = skipSizes(info);
  const probe = skips[branch + 1] ?? 0;
  const deep = skips[branch] ?? 0;  // h_b has the size of the skip it meets, up to the channel count of its level
  const res = residuals ? skips.slice(0, branch + 1).reduce((a, b) => a + b, 0) + skips.reduce((a, b) => a + b, 0) : 0;
  return (probe + 2 * deep + res) * BYTES;
}

/** h_b alone and its extrapolation history (an extra branch kept on full steps for a per-step cache depth). */
export function deepBytes(info: Info, branch: number): number {
  return 2 * (skipSizes(info)[branch] ?? 0) * BYTES;
}

/** Every skip plus the mid-block output. */
export function encoderBytes(info: Info): number {
  const skips = skipSizes(info);
  const mid = info.channels[info.channels.length - 1]! * (info.latentHeight >> (info.channels.length - 1)) * (info.latentWidth >> (info.channels.length - 1));
  return (skips.reduce((a, b) => a + b, 0) + mid) * BYTES;
}

/** Cross-attention outputs of every layer ('fused': batch-1 means only; 'outputs': outputs and means). */
export function attentionBytes(info: Info, what: 'fused' | 'outputs'): number {
  let total = 0;
  info.channels.forEach((c, level) => {
    const hw = (info.latentHeight >> level) * (info.latentWidth >> level);
    const layers = level < info.channels.length - 1 ? 2 + 3 + 2 : 1;  // UNet down+up, ControlNet down; mid below
    total += layers * c * hw;
  });
  const last = info.channels.length - 1;
  total += 2 * info.channels[last]! * (info.latentHeight >> last) * (info.latentWidth >> last);  // mid blocks of G and C
  return total * 4 * (what === 'fused' ? 1 : 3);
}
