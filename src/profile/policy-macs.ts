/**
 * MACs of a whole SD1.5 + ControlNet generation under a cache policy, traced on the meta device (no weights, no
 * data): the pipeline runs for real, the policy plans every step, and every op reports its MACs with the step
 * and CFG phase as tags. Policies that decide online from feature drift cannot be traced this way (there is no
 * data on the meta device): give them a calibrated step list.
 */
import { zeros } from '../creation.js';
import type { CachePolicy } from '../cache/policy.js';
import { ControlNetModel } from '../models/controlnet.js';
import { SD15_CONTROLNET_CONFIG, SD15_UNET_CONFIG } from '../models/sd15.js';
import { UNet2DConditionModel } from '../models/unet.js';
import { type DenoiseOptions, denoise } from '../pipeline/denoise.js';
import { MacCounter, countMacs } from './macs.js';

/** Options of {@link runMacs}. */
export interface RunMacsOptions {
  /** Denoising steps (default 20). */
  steps?: number;
  /** CFG scale (default 7.5; 1 = no CFG, batch 1). */
  guidance?: number;
  /** Image size in pixels (default 512). */
  size?: number;
  /** Image height and width in pixels when not square (default `size`). */
  height?: number;
  /** See {@link RunMacsOptions.height}. */
  width?: number;
  /** diffusers UNet config (default SD1.5's). */
  unetConfig?: Record<string, unknown>;
  /** diffusers ControlNet config (default ControlNet 1.1's). */
  controlnetConfig?: Record<string, unknown>;
  /** Receives each step's plan and observation, as {@link DenoiseOptions.onPlan} (policies only). */
  onPlan?: DenoiseOptions['onPlan'];
}

let models: { key: string; unet: UNet2DConditionModel; cn: ControlNetModel } | undefined;

function metaModels(opts: RunMacsOptions): { unet: UNet2DConditionModel; cn: ControlNetModel } {
  const key = JSON.stringify([opts.unetConfig ?? null, opts.controlnetConfig ?? null]);
  if (models?.key !== key) {
    models = {
      key,
      unet: new UNet2DConditionModel({ ...(opts.unetConfig ?? SD15_UNET_CONFIG) }).initMeta(),
      cn: new ControlNetModel({ ...(opts.controlnetConfig ?? SD15_CONTROLNET_CONFIG) }).initMeta(),
    };
  }
  return models;
}

/** The MAC counter of one generation (records tagged { step, phase }), or of an uncached run when policy is undefined. */
export function runMacs(policy: CachePolicy | undefined, opts: RunMacsOptions = {}): MacCounter {
  const { unet, cn } = metaModels(opts);
  const meta = { device: 'meta' as const };
  const lh = (opts.height ?? opts.size ?? 512) / 8, lw = (opts.width ?? opts.size ?? 512) / 8;
  const counter = new MacCounter();
  countMacs(() => {
    const out = denoise({
      unet, controls: [{ model: cn, image: zeros([1, 3, lh * 8, lw * 8], meta) }],
      cond: zeros([1, 77, unet.config.crossAttentionDim], meta), uncond: zeros([1, 77, unet.config.crossAttentionDim], meta),
      latents: zeros([1, unet.config.inChannels, lh, lw], meta), steps: opts.steps ?? 20, guidance: opts.guidance ?? 7.5,
      scheduler: 'ddim', policy, macCounter: counter, onPlan: opts.onPlan,
    });
    out.dispose();
  }, counter);
  return counter;
}
