// The trained toy SD1.5-architecture UNet + ControlNet and its golden cases, for pipeline and cache tests.
import * as path from 'node:path';

import { SafetensorsFile, type Tensor, loadSafetensors, models } from '../../dist/src/index.js';
import { FIXTURES, readJson } from './golden';

export const toyPath = (...p: string[]) => path.join(FIXTURES, 'toy-controlnet', ...p);

function load<M extends { loadStateDict(m: Map<string, Tensor>): unknown }>(model: M, file: string): M {
  const w = loadSafetensors(file);
  model.loadStateDict(w);
  for (const x of w.values()) x.dispose();
  return model;
}

export function toyModels() {
  return {
    unet: load(new models.UNet2DConditionModel(readJson(toyPath('unet', 'config.json'))), toyPath('unet', 'diffusion_pytorch_model.safetensors')),
    controlnet: load(new models.ControlNetModel(readJson(toyPath('controlnet', 'config.json'))), toyPath('controlnet', 'diffusion_pytorch_model.safetensors')),
  };
}

/** Inputs of golden case k (0..3); the caller disposes them. */
export function toyCase(k: number): { control: Tensor; cond: Tensor; uncond: Tensor; noise: Tensor; latents: Float32Array } {
  const g = SafetensorsFile.open(toyPath('golden', `case_00${k}.safetensors`));
  try {
    const latents = g.load('latents');
    const out = { control: g.load('control'), cond: g.load('cond_emb'), uncond: g.load('uncond_emb'), noise: g.load('noise'), latents: latents.toFloat32() };
    latents.dispose();
    return out;
  } finally {
    g.close();
  }
}
