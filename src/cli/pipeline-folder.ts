/**
 * Loads everything `hgc generate` needs from a model folder, in one of two layouts:
 *
 * - the **toy model** (`unet/`, `controlnet/`, `text/` with the toy text encoder, `scheduler/`), decoded with
 *   TAESD (`--vae`, else `../taesd` beside it, else the bundled models);
 * - a **diffusers SD1.5 pipeline** (`model_index.json`, `unet/`, `text_encoder/`, `tokenizer/`, `vae/`,
 *   `scheduler/`), with the ControlNet from `--controlnet` (or a `controlnet/` subfolder).
 *
 * A folder of a single model (a UNet, a ControlNet, a VAE, …) is refused with a message saying where it belongs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { DType } from '../dtype.js';
import { HgcError } from '../errors.js';
import { readJsonFile } from '../io/model-folder.js';
import { loadControlNet, loadUNet } from '../io/model-folder.js';
import { loadClipTextModel } from '../models/clip-text.js';
import type { ControlNetModel } from '../models/controlnet.js';
import { TAESD_DECODER_FILE, type TinyAutoencoder, loadTaesd } from '../models/taesd.js';
import { ToyTextEncoder } from '../models/toy-text-encoder.js';
import type { UNet2DConditionModel } from '../models/unet.js';
import { type AutoencoderKL, loadVae } from '../models/vae.js';
import type { TextEncoder } from '../pipeline/generate.js';
import type { CreateSchedulerOptions } from '../schedulers/factory.js';
import type { Device } from '../tensor.js';
import { ClipTokenizer } from '../text/clip-tokenizer.js';
import { UsageError } from './exit-codes.js';
import { locateModels } from './locate-models.js';

/** What `hgc generate` runs with. */
export interface LoadedPipeline {
  kind: 'toy' | 'diffusers';
  unet: UNet2DConditionModel;
  controlnet: ControlNetModel;
  textEncoder: TextEncoder;
  /** The decoder of the final image. */
  vae: AutoencoderKL | TinyAutoencoder;
  /** TAESD for previews (loaded only when asked for). */
  previewVae?: TinyAutoencoder;
  /** The raw diffusers configs (for counting the uncached run's MACs on the meta device). */
  unetConfig: Record<string, unknown>;
  controlnetConfig: Record<string, unknown>;
  /** The UNet's native latent size (config sample_size). */
  sampleSize: number;
  /** Scheduler settings read from scheduler/scheduler_config.json. */
  schedulerConfig: Partial<CreateSchedulerOptions>;
  /** Frees every model. */
  dispose(): void;
}

/** Options of {@link loadPipelineFolder}. */
export interface PipelineFolderOptions {
  /** ControlNet folder (required for a diffusers pipeline without a controlnet/ subfolder). */
  controlnet?: string;
  /** Decoder folder: an AutoencoderKL or TAESD folder (default: the pipeline's own vae, TAESD for the toy model). */
  vae?: string;
  /** TAESD folder for previews (default: the vae when it is TAESD, else the bundled TAESD). */
  taesd?: string;
  /** Load TAESD for previews. */
  previews?: boolean;
  /** Device of every model (default 'cpu'; the toy model's text encoder always runs on the CPU). */
  device?: Device;
  /** dtype of every model's parameters (default 'f32'). */
  dtype?: DType;
}

const isFile = (p: string) => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

function readObject(file: string): Record<string, unknown> {
  const json = readJsonFile(file);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new HgcError('IO', `${file}: must be a JSON object`);
  return json as Record<string, unknown>;
}

/** Where a folder that holds one model (not a pipeline) should go on the command line. */
const SINGLE_MODEL_HINT: Record<string, string> = {
  ControlNetModel: 'pass it with --controlnet and give an SD1.5 pipeline folder (model_index.json) as the model',
  UNet2DConditionModel: 'give the pipeline folder above it (with model_index.json) as the model',
  AutoencoderKL: 'pass it with --vae',
  AutoencoderTiny: 'pass it with --vae or --taesd',
  CLIPTextModel: 'give the pipeline folder above it (with model_index.json) as the model',
};

/** The layout of `folder`, or an HgcError('IO') explaining why it is not a model folder. */
export function detectLayout(folder: string): 'toy' | 'diffusers' {
  if (!fs.existsSync(folder)) throw new HgcError('IO', `model folder ${folder} does not exist`);
  if (!fs.statSync(folder).isDirectory()) throw new HgcError('IO', `model ${folder} is a file; hgc generate takes a model folder`);
  if (isFile(path.join(folder, 'model_index.json'))) return 'diffusers';
  if (isFile(path.join(folder, 'text', 'vocab.json')) && isFile(path.join(folder, 'unet', 'config.json'))) return 'toy';
  const config = path.join(folder, 'config.json');
  if (isFile(config)) {
    const cls = String(readObject(config)._class_name ?? 'unknown model');
    throw new HgcError('IO', `${folder} holds a single ${cls}, not a pipeline: ${SINGLE_MODEL_HINT[cls] ?? 'give a pipeline folder as the model'}`);
  }
  throw new HgcError('IO', `${folder} is not a model folder: expected model_index.json (a diffusers SD1.5 pipeline) ` +
    'or unet/ + controlnet/ + text/ (the toy model)');
}

/** Scheduler settings from a diffusers scheduler_config.json that apply to every hgc scheduler. */
export function schedulerSettings(file: string): Partial<CreateSchedulerOptions> {
  if (!isFile(file)) return {};
  const c = readObject(file);
  const out: Partial<CreateSchedulerOptions> = {};
  if (typeof c.num_train_timesteps === 'number') out.numTrainTimesteps = c.num_train_timesteps;
  if (typeof c.beta_start === 'number') out.betaStart = c.beta_start;
  if (typeof c.beta_end === 'number') out.betaEnd = c.beta_end;
  if (c.beta_schedule === 'linear' || c.beta_schedule === 'scaled_linear') out.betaSchedule = c.beta_schedule;
  if (c.timestep_spacing === 'leading' || c.timestep_spacing === 'linspace' || c.timestep_spacing === 'trailing') out.timestepSpacing = c.timestep_spacing;
  if (typeof c.steps_offset === 'number') out.stepsOffset = c.steps_offset;
  if (c.final_sigmas_type === 'zero' || c.final_sigmas_type === 'sigma_min') out.finalSigmasType = c.final_sigmas_type;
  return out;
}

/** TAESD or the SD VAE from a folder, by what it holds. */
function loadDecoder(folder: string, where: { device: Device; dtype: DType }): AutoencoderKL | TinyAutoencoder {
  if (isFile(path.join(folder, TAESD_DECODER_FILE))) return loadTaesd(folder, { parts: 'decoder', ...where });
  const config = path.join(folder, 'config.json');
  if (isFile(config) && readObject(config)._class_name === 'AutoencoderTiny') return loadTaesd(folder, { parts: 'decoder', ...where });
  return loadVae(folder, where);
}

function isTaesd(v: AutoencoderKL | TinyAutoencoder): v is TinyAutoencoder {
  return 'decodeToUnit' in v;
}

/** The default TAESD folder for a toy model folder: ../taesd beside it, else the bundled one. */
function defaultTaesd(near?: string): string {
  if (near !== undefined && isFile(path.join(near, '..', 'taesd', TAESD_DECODER_FILE))) return path.join(near, '..', 'taesd');
  try {
    return locateModels().taesd;
  } catch (e) {
    throw new HgcError('IO', `no TAESD found for decoding or previews: pass --taesd <folder> (${(e as Error).message})`);
  }
}

/** Loads the models of `folder` (see the module description); errors name the file or option at fault. */
export function loadPipelineFolder(folder: string, opts: PipelineFolderOptions = {}): LoadedPipeline {
  const kind = detectLayout(folder);
  const owned: { dispose(): void }[] = [];
  const keep = <M extends { dispose(): void }>(m: M): M => {
    owned.push(m);
    return m;
  };
  const dispose = () => {
    for (const m of owned.splice(0)) m.dispose();
  };
  const where = { device: opts.device ?? 'cpu', dtype: opts.dtype ?? 'f32' };
  try {
    let unetDir: string, cnDir: string, textEncoder: TextEncoder, vae: AutoencoderKL | TinyAutoencoder;
    if (kind === 'toy') {
      unetDir = path.join(folder, 'unet');
      cnDir = opts.controlnet ?? path.join(folder, 'controlnet');
      textEncoder = new ToyTextEncoder(path.join(folder, 'text'));
      vae = keep(loadDecoder(opts.vae ?? defaultTaesd(folder), where));
    } else {
      unetDir = path.join(folder, 'unet');
      if (opts.controlnet === undefined && !isFile(path.join(folder, 'controlnet', 'config.json'))) {
        throw new UsageError(`hgc generate: ${folder} has no controlnet/ folder: pass a ControlNet with --controlnet <folder>`);
      }
      cnDir = opts.controlnet ?? path.join(folder, 'controlnet');
      const tokenizer = ClipTokenizer.fromFolder(path.join(folder, 'tokenizer'));
      textEncoder = { tokenizer, model: keep(loadClipTextModel(folder, where)) };
      vae = keep(loadDecoder(opts.vae ?? path.join(folder, 'vae'), where));
    }
    const unetConfig = readObject(path.join(unetDir, 'config.json'));
    const unet = keep(loadUNet(unetDir, where));
    const controlnet = keep(loadControlNet(cnDir, where));
    // A pipeline root given as --controlnet holds the model in its controlnet/ subfolder (as loadControlNet reads it).
    const cnConfig = isFile(path.join(cnDir, 'config.json')) ? path.join(cnDir, 'config.json') : path.join(cnDir, 'controlnet', 'config.json');
    const controlnetConfig = readObject(cnConfig);
    let previewVae: TinyAutoencoder | undefined;
    if (opts.previews) {
      if (opts.taesd === undefined && isTaesd(vae)) previewVae = vae;
      else previewVae = keep(loadTaesd(opts.taesd ?? defaultTaesd(kind === 'toy' ? folder : undefined), { parts: 'decoder', ...where }));
    }
    const sampleSize = typeof unetConfig.sample_size === 'number' ? unetConfig.sample_size : 64;
    return {
      kind, unet, controlnet, textEncoder, vae, previewVae, unetConfig, controlnetConfig, sampleSize,
      schedulerConfig: schedulerSettings(path.join(folder, 'scheduler', 'scheduler_config.json')), dispose,
    };
  } catch (e) {
    dispose();
    throw e;
  }
}
