/**
 * Tensor names of the original (CompVis / LDM) single-file checkpoints and their diffusers equivalents, for
 * the SD1.5-family UNet and ControlNet (1.0 / 1.1).
 *
 * The original UNet numbers its blocks flat: `input_blocks.0` is conv_in, then each level has
 * `layers_per_block` blocks of a ResBlock (`.0`) optionally followed by a SpatialTransformer (`.1`), and, except
 * the last level, one block holding the downsampler (`.0.op`); `middle_block.{0,1,2}` is resnet, transformer,
 * resnet; `output_blocks` has `layers_per_block + 1` blocks per level, each a ResBlock (`.0`), an optional
 * transformer (`.1`) and, in the last block of every level but the last, the upsampler (`.1.conv` or `.2.conv`
 * after a transformer). Inside a ResBlock: `in_layers.0` is norm1, `in_layers.2` conv1, `emb_layers.1`
 * time_emb_proj, `out_layers.0` norm2, `out_layers.3` conv2 and `skip_connection` conv_shortcut; inside a
 * transformer the names are the same as in diffusers. `time_embed.{0,2}` are the time MLP, `out.{0,2}` the
 * output GroupNorm and conv.
 *
 * ControlNet checkpoints (`control_model.` prefix) have the same down path plus `input_hint_block.{0,2,…}`
 * (the conditioning convs, SiLU in between: conv_in, blocks.k, conv_out), `zero_convs.N.0`
 * (controlnet_down_blocks.N) and `middle_block_out.0` (controlnet_mid_block).
 *
 * The tables are derived from the model built from a config (its parameter names), so they follow
 * `layers_per_block`, the number of levels and which blocks have attention.
 */
import { HgcError, check } from '../errors.js';
import type { ControlNetConfig, UNetConfig } from '../models/config.js';
import { ControlNetModel } from '../models/controlnet.js';
import { SD15_CONTROLNET_CONFIG, SD15_UNET_CONFIG } from '../models/sd15.js';
import { UNet2DConditionModel } from '../models/unet.js';
import type { Module } from '../nn/module.js';
import { LazyTensorSource, type SourceEntry, type WeightLoadOptions, buildAndLoad } from './model-folder.js';
import { SafetensorsFile } from './safetensors.js';

/** Prefix of the UNet's tensors in a full SD checkpoint. */
export const LDM_UNET_PREFIX = 'model.diffusion_model.';
/** Prefix of the ControlNet's tensors in a ControlNet 1.0 / 1.1 checkpoint. */
export const LDM_CONTROLNET_PREFIX = 'control_model.';

/** Options of {@link ldmToDiffusersUNet} and {@link ldmToDiffusersControlNet}. */
export interface LdmKeyOptions {
  /** Prefix of the original names (default `model.diffusion_model.` / `control_model.`; '' for none). */
  prefix?: string;
}

/** Options of {@link loadUNetFromSingleFile} and {@link loadControlNetFromSingleFile}. */
export interface SingleFileOptions extends WeightLoadOptions {
  /** The diffusers config.json object of the model (default: SD1.5's). */
  config?: Record<string, unknown>;
  /**
   * Prefix of the model's tensors in the file. Default: the standard prefix when the file has tensors with
   * it, else none (a checkpoint holding only this model, without prefix).
   */
  prefix?: string;
}

const RESNET_PARTS: Readonly<Record<string, string>> = Object.freeze({
  norm1: 'in_layers.0', conv1: 'in_layers.2', time_emb_proj: 'emb_layers.1',
  norm2: 'out_layers.0', conv2: 'out_layers.3', conv_shortcut: 'skip_connection',
});

type Layout = Pick<UNetConfig, 'layersPerBlock' | 'upBlockTypes'> & { hintConvs?: number };

function resnet(base: string, rest: string, name: string): string {
  const dot = rest.indexOf('.');
  const part = RESNET_PARTS[rest.slice(0, dot)];
  if (part === undefined) throw new HgcError('ARG', `ldm keys: no original name for resnet parameter ${name}`);
  return `${base}.${part}${rest.slice(dot)}`;
}

/** The original name (without prefix) of diffusers parameter `name` of a UNet or ControlNet with `layout`. */
function toLdm(name: string, layout: Layout): string {
  const per = layout.layersPerBlock + 1;
  let m: RegExpMatchArray | null;
  if ((m = name.match(/^conv_in\.(.+)$/))) return `input_blocks.0.0.${m[1]}`;
  if ((m = name.match(/^time_embedding\.linear_([12])\.(.+)$/))) return `time_embed.${m[1] === '1' ? 0 : 2}.${m[2]}`;
  if ((m = name.match(/^conv_norm_out\.(.+)$/))) return `out.0.${m[1]}`;
  if ((m = name.match(/^conv_out\.(.+)$/))) return `out.2.${m[1]}`;
  if ((m = name.match(/^down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)$/))) {
    const block = 1 + Number(m[1]) * per + Number(m[3]);
    return m[2] === 'resnets' ? resnet(`input_blocks.${block}.0`, m[4]!, name) : `input_blocks.${block}.1.${m[4]}`;
  }
  if ((m = name.match(/^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/))) {
    return `input_blocks.${1 + Number(m[1]) * per + layout.layersPerBlock}.0.op.${m[2]}`;
  }
  if ((m = name.match(/^mid_block\.resnets\.([01])\.(.+)$/))) return resnet(`middle_block.${m[1] === '0' ? 0 : 2}`, m[2]!, name);
  if ((m = name.match(/^mid_block\.attentions\.0\.(.+)$/))) return `middle_block.1.${m[1]}`;
  if ((m = name.match(/^up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)$/))) {
    const block = Number(m[1]) * per + Number(m[3]);
    return m[2] === 'resnets' ? resnet(`output_blocks.${block}.0`, m[4]!, name) : `output_blocks.${block}.1.${m[4]}`;
  }
  if ((m = name.match(/^up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/))) {
    const level = Number(m[1]);
    const slot = layout.upBlockTypes[level] === 'CrossAttnUpBlock2D' ? 2 : 1;
    return `output_blocks.${level * per + layout.layersPerBlock}.${slot}.conv.${m[2]}`;
  }
  if ((m = name.match(/^controlnet_cond_embedding\.conv_in\.(.+)$/))) return `input_hint_block.0.${m[1]}`;
  if ((m = name.match(/^controlnet_cond_embedding\.blocks\.(\d+)\.(.+)$/))) return `input_hint_block.${2 * (Number(m[1]) + 1)}.${m[2]}`;
  if ((m = name.match(/^controlnet_cond_embedding\.conv_out\.(.+)$/)) && layout.hintConvs !== undefined) {
    return `input_hint_block.${2 * (layout.hintConvs + 1)}.${m[1]}`;
  }
  if ((m = name.match(/^controlnet_down_blocks\.(\d+)\.(.+)$/))) return `zero_convs.${m[1]}.0.${m[2]}`;
  if ((m = name.match(/^controlnet_mid_block\.(.+)$/))) return `middle_block_out.0.${m[1]}`;
  /* c8 ignore next */
  throw new HgcError('ARG', `ldm keys: no original name for parameter ${name}`);
}

/** Original name (with `prefix`) → diffusers name, for every parameter of `model`. */
function keyMap(model: Module, layout: Layout, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name] of model.namedParameters()) {
    const ldm = prefix + toLdm(name, layout);
    check(!out.has(ldm), 'ARG', () => `ldm keys: ${ldm} would hold both ${out.get(ldm)} and ${name}`);
    out.set(ldm, name);
  }
  return out;
}

function unetLayout(cfg: UNetConfig): Layout {
  return { layersPerBlock: cfg.layersPerBlock, upBlockTypes: cfg.upBlockTypes };
}

function controlNetLayout(cfg: ControlNetConfig): Layout {
  return { layersPerBlock: cfg.layersPerBlock, upBlockTypes: [], hintConvs: 2 * (cfg.conditioningEmbeddingOutChannels.length - 1) };
}

function checkPrefix(prefix: unknown): string {
  check(typeof prefix === 'string', 'ARG', () => `ldm keys: prefix must be a string, got ${JSON.stringify(prefix)}`);
  return prefix;
}

/**
 * Original checkpoint name → diffusers parameter name, for every parameter of the UNet built from `config`
 * (a diffusers config.json object; default SD1.5). Names carry `opts.prefix` (default `model.diffusion_model.`).
 */
export function ldmToDiffusersUNet(config: Record<string, unknown> = SD15_UNET_CONFIG, opts: LdmKeyOptions = {}): Map<string, string> {
  const model = new UNet2DConditionModel(config);
  return keyMap(model, unetLayout(model.config), checkPrefix(opts.prefix ?? LDM_UNET_PREFIX));
}

/**
 * Original checkpoint name → diffusers parameter name, for every parameter of the ControlNet built from
 * `config` (default SD1.5's). Names carry `opts.prefix` (default `control_model.`).
 */
export function ldmToDiffusersControlNet(config: Record<string, unknown> = SD15_CONTROLNET_CONFIG, opts: LdmKeyOptions = {}): Map<string, string> {
  const model = new ControlNetModel(config);
  return keyMap(model, controlNetLayout(model.config), checkPrefix(opts.prefix ?? LDM_CONTROLNET_PREFIX));
}

/**
 * A lazy source over the single-file checkpoint `path` holding the model's tensors under `prefix` (auto:
 * `defaultPrefix` when present, else none), with diffusers names. Keys outside the prefix (other components
 * of a full SD checkpoint: first_stage_model.*, cond_stage_model.*, model_ema.*, alphas_cumprod, …) are
 * ignored; keys under it that the map lacks keep their original name, so a strict load reports them.
 */
function openSingleFile(path: string, map: (prefix: string) => Map<string, string>, defaultPrefix: string,
  what: string, opts: SingleFileOptions): { source: LazyTensorSource; describe: (name: string) => string } {
  const file = SafetensorsFile.open(path);
  try {
    const keys = file.keys();
    let prefix: string;
    if (opts.prefix !== undefined) prefix = checkPrefix(opts.prefix);
    else prefix = keys.some((k) => k.startsWith(defaultPrefix)) ? defaultPrefix : '';
    const toDiffusers = map(prefix);
    const toOriginal = new Map<string, string>();
    for (const [ldm, diff] of toDiffusers) toOriginal.set(diff, ldm);
    const entries = new Map<string, SourceEntry>();
    for (const k of keys) {
      if (!k.startsWith(prefix)) continue;
      const name = toDiffusers.get(k) ?? k;
      entries.set(name, { file, key: k });
    }
    if (prefix !== '' && entries.size === 0) {
      throw new HgcError('IO', `${path}: no ${what} tensors (none of its ${keys.length} tensors starts with ${JSON.stringify(prefix)})`);
    }
    const source = new LazyTensorSource(path, entries, [file], { dtype: opts.dtype ?? 'f32', device: opts.device ?? 'cpu' });
    const describe = (name: string) => {
      const orig = toOriginal.get(name);
      return orig === undefined ? name : `${orig} (${name})`;
    };
    return { source, describe };
  } catch (e) {
    file.close();
    throw e;
  }
}

/**
 * A UNet2DConditionModel from an original single-file checkpoint (a full SD1.5 `.safetensors`, or one holding
 * only the UNet). `opts.config` is the diffusers config (default SD1.5's). A missing, unexpected or mis-shaped
 * tensor is an `HgcError('IO')` naming it by its original and diffusers names.
 */
export function loadUNetFromSingleFile(path: string, opts: SingleFileOptions = {}): UNet2DConditionModel {
  check(typeof path === 'string' && path.length > 0, 'ARG', 'loadUNetFromSingleFile: path must be a non-empty string');
  const model = new UNet2DConditionModel(opts.config ?? SD15_UNET_CONFIG);
  const layout = unetLayout(model.config);
  let describe: (name: string) => string = (n) => n;
  return buildAndLoad(() => model, () => {
    const o = openSingleFile(path, (p) => keyMap(model, layout, p), LDM_UNET_PREFIX, 'UNet', opts);
    describe = o.describe;
    return o.source;
  }, { strict: opts.strict ?? true, describe: (n) => describe(n) });
}

/**
 * A ControlNetModel from an original ControlNet 1.0 / 1.1 checkpoint (`control_model.*` tensors, or the same
 * without prefix). `opts.config` is the diffusers config (default SD1.5 ControlNet's). Other tensors of the
 * file (a full SD model bundled with a ControlNet 1.0) are ignored.
 */
export function loadControlNetFromSingleFile(path: string, opts: SingleFileOptions = {}): ControlNetModel {
  check(typeof path === 'string' && path.length > 0, 'ARG', 'loadControlNetFromSingleFile: path must be a non-empty string');
  const model = new ControlNetModel(opts.config ?? SD15_CONTROLNET_CONFIG);
  const layout = controlNetLayout(model.config);
  let describe: (name: string) => string = (n) => n;
  return buildAndLoad(() => model, () => {
    const o = openSingleFile(path, (p) => keyMap(model, layout, p), LDM_CONTROLNET_PREFIX, 'ControlNet', opts);
    describe = o.describe;
    return o.source;
  }, { strict: opts.strict ?? true, describe: (n) => describe(n) });
}
