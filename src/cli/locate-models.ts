/**
 * Where the small trained models that ship with hgc (the toy SD1.5-architecture UNet + ControlNet and TAESD)
 * are, in this order:
 *
 * 1. `$HGC_MODELS`, when set (a folder holding `toy-controlnet/` and `taesd/`);
 * 2. `models/` inside the installed package (filled by `npm pack`/`npm publish` through scripts/pack-models.js);
 * 3. `../shared/fixtures` next to a source checkout.
 *
 * Models are never copied into the git repository.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { HgcError } from '../errors.js';

/** A folder holding the shipped models. */
export interface ModelLocation {
  /** The folder holding `toy-controlnet/` and `taesd/`. */
  root: string;
  /** Which rule found it. */
  source: 'HGC_MODELS' | 'package' | 'checkout';
  /** The toy model folder (unet/, controlnet/, text/, scheduler/, eval/). */
  toy: string;
  /** The TAESD folder (taesd_encoder/decoder.safetensors). */
  taesd: string;
}

/** The root of the installed package (dist/src/cli → three levels up). */
export function packageRoot(): string {
  return path.resolve(__dirname, '../../..');
}

function exists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** What is missing from `root` for it to hold the shipped models ([] when complete). */
export function missingModelFiles(root: string): string[] {
  const need = [
    'toy-controlnet/unet/config.json', 'toy-controlnet/unet/diffusion_pytorch_model.safetensors',
    'toy-controlnet/controlnet/config.json', 'toy-controlnet/controlnet/diffusion_pytorch_model.safetensors',
    'toy-controlnet/text/vocab.json', 'toy-controlnet/text/toy_text_encoder.safetensors',
    'taesd/taesd_decoder.safetensors',
  ];
  return need.filter((f) => !exists(path.join(root, f)));
}

/** Finds the shipped models (see the module description) or throws HgcError('IO') saying where it looked. */
export function locateModels(env: NodeJS.ProcessEnv = process.env, pkg: string = packageRoot()): ModelLocation {
  const make = (root: string, source: ModelLocation['source']): ModelLocation =>
    ({ root, source, toy: path.join(root, 'toy-controlnet'), taesd: path.join(root, 'taesd') });
  const fromEnv = env.HGC_MODELS;
  if (fromEnv !== undefined && fromEnv !== '') {
    const root = path.resolve(fromEnv);
    const missing = missingModelFiles(root);
    if (missing.length > 0) throw new HgcError('IO', `HGC_MODELS=${fromEnv}: not a models folder (missing ${missing.join(', ')})`);
    return make(root, 'HGC_MODELS');
  }
  const candidates: [string, ModelLocation['source']][] = [
    [path.join(pkg, 'models'), 'package'],
    [path.resolve(pkg, '..', 'shared', 'fixtures'), 'checkout'],
  ];
  for (const [root, source] of candidates) if (missingModelFiles(root).length === 0) return make(root, source);
  throw new HgcError('IO', 'the bundled models were not found. Looked in: $HGC_MODELS (not set), ' +
    `${candidates.map(([r]) => r).join(', ')}. ` +
    'Set HGC_MODELS to a folder holding toy-controlnet/ and taesd/ (e.g. the shared/fixtures folder of the hgc project), ' +
    'or install the published package, which ships them in models/.');
}
