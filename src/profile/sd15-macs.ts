/**
 * MACs of an SD1.5 + ControlNet denoising run, traced on the meta device: per image per step for each
 * component, per block, and for a whole run (steps × CFG batch).
 */
import { zeros } from '../creation.js';
import { ControlNetModel } from '../models/controlnet.js';
import { SD15_CONTROLNET_CONFIG, SD15_UNET_CONFIG } from '../models/sd15.js';
import { UNet2DConditionModel } from '../models/unet.js';
import { type MacConvention, MacCounter, countMacs } from './macs.js';

/** Options of {@link sd15StepMacs}. */
export interface Sd15MacsOptions {
  /** Image size in pixels (default 512; the latent is size/8). */
  height?: number;
  width?: number;
  /** diffusers UNet / ControlNet config objects (default: SD1.5 and ControlNet 1.1). */
  unetConfig?: Record<string, unknown>;
  controlnetConfig?: Record<string, unknown>;
}

/** MACs of one image through each component once, with per-block counters. */
export interface StepMacs {
  unet: MacCounter;
  controlnet: MacCounter;
}

export function sd15StepMacs(opts: Sd15MacsOptions = {}): StepMacs {
  const h = (opts.height ?? 512) / 8, w = (opts.width ?? 512) / 8;
  const unet = new UNet2DConditionModel({ ...(opts.unetConfig ?? SD15_UNET_CONFIG) }).initMeta();
  const cn = new ControlNetModel({ ...(opts.controlnetConfig ?? SD15_CONTROLNET_CONFIG) }).initMeta();
  const meta = { device: 'meta' as const };
  const x = zeros([1, unet.config.inChannels, h, w], meta);
  const ctx = zeros([1, 77, unet.config.crossAttentionDim], meta);
  const cond = zeros([1, 3, h * 8, w * 8], meta);
  const u = countMacs(() => unet.forward(x, 999, ctx)).counter;
  const c = countMacs(() => cn.forward(x, 999, ctx, cond)).counter;
  return { unet: u, controlnet: c };
}

/** Totals of a plain (uncached) run: steps × (CFG ? 2 : 1) × (UNet + ControlNet). */
export function runTotals(step: StepMacs, steps: number, cfg: boolean, convention: MacConvention = 'modules') {
  const perStep = step.unet.total(convention) + step.controlnet.total(convention);
  const batch = cfg ? 2 : 1;
  return {
    unetPerImageStep: step.unet.total(convention),
    controlnetPerImageStep: step.controlnet.total(convention),
    perStep: perStep * batch,
    total: perStep * batch * steps,
  };
}

/** Per top-level block (conv_in, down_blocks.0, …), in model order. */
export function perBlock(counter: MacCounter, convention: MacConvention = 'modules'): [string, number][] {
  const key = (path: string) => {
    const parts = path.split('.');
    return /^\d+$/.test(parts[1] ?? '') ? `${parts[0]}.${parts[1]}` : parts[0]!;
  };
  return [...counter.groupBy((r) => key(r.path), convention)];
}
