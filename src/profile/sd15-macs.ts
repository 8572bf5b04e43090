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
  /** Image height in pixels (default 512; the latent is height/8). */
  height?: number;
  /** Image width in pixels (default 512; the latent is width/8). */
  width?: number;
  /** diffusers UNet config object (default: SD1.5). */
  unetConfig?: Record<string, unknown>;
  /** diffusers ControlNet config object (default: SD1.5's ControlNet 1.1). */
  controlnetConfig?: Record<string, unknown>;
}

/** MACs of one image through each component once, with per-block counters. */
export interface StepMacs {
  /** Records of one UNet pass on one image (batch 1), by module path. */
  unet: MacCounter;
  /** Records of one ControlNet pass on one image (batch 1), by module path. */
  controlnet: MacCounter;
}

/**
 * Traces one UNet and one ControlNet pass of batch 1 at the given image size on the meta device (no weights, no
 * data) and returns their MAC records (338.83 G and ≈116.5 G under the 'modules' convention at 512×512).
 */
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
    /** UNet MACs per image per step. */
    unetPerImageStep: step.unet.total(convention),
    /** ControlNet MACs per image per step. */
    controlnetPerImageStep: step.controlnet.total(convention),
    /** UNet + ControlNet MACs per step, times the CFG batch (2 with CFG). */
    perStep: perStep * batch,
    /** MACs of the whole run: perStep × steps. */
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
