/**
 * TAESD, the tiny distilled autoencoder for SD 1.x/2.x latents (madebyollin/taesd), laid out as diffusers'
 * `AutoencoderTiny`: parameters are named `encoder.layers.N.*` and `decoder.layers.N.*`, where N is the index in
 * a flat sequence of layers.
 *
 * - Encoder: a 3×3 conv from the image to the first width, then for each level (after the first) a stride-2
 *   3×3 conv without bias, each level followed by its residual blocks, and a last 3×3 conv to the latent channels.
 * - Decoder: a 3×3 conv from the latents and a ReLU, then for each level its residual blocks and, except after
 *   the last level, a nearest 2× upsampling and a 3×3 conv without bias; the last level ends in a 3×3 conv (with
 *   bias) to the image channels.
 * - Block: conv3×3 → ReLU → conv3×3 → ReLU → conv3×3, plus the input (a 1×1 conv without bias when the widths
 *   differ), then ReLU. Parameter names `conv.0`, `conv.2`, `conv.4` (the ReLUs sit at 1 and 3) and `skip`.
 *
 * Conventions (diffusers'): `decode` soft-clamps the latents with tanh(z/3)·3, runs the decoder layers (which
 * produce an image in about [0, 1]) and returns it mapped to about [−1, 1] (×2 − 1, not clamped). `encode` takes
 * an image in [−1, 1], maps it to [0, 1] and returns the latents. Neither applies the scaling factor (it is 1 for
 * TAESD: its latents are the SD diffusion-space latents directly).
 *
 * Weights load from the original files `taesd_encoder.safetensors` / `taesd_decoder.safetensors` (whose keys are
 * the indices of the original sequences: encoder key `k` is `encoder.layers.k`; decoder key `N.rest` is
 * `decoder.layers.(N−1).rest`, because the original decoder's index 0 is the parameter-free tanh clamp), or from a
 * diffusers folder (`config.json` + `diffusion_pytorch_model.safetensors`); see {@link loadTaesd}.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

import { tensor } from '../creation.js';
import type { DType } from '../dtype.js';
import { HgcError, check, shapeStr } from '../errors.js';
import {
  LazyTensorSource, type ModelFolderOptions, type SourceEntry, loadWeightsInto, openModelFolderWeights, readJsonFile,
} from '../io/model-folder.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import { type Device, Tensor } from '../tensor.js';

/** A validated AutoencoderTiny configuration. */
export interface TinyAutoencoderConfig {
  /** Image channels taken by the encoder (3). */
  inChannels: number;
  /** Image channels produced by the decoder (3). */
  outChannels: number;
  /** Latent channels (4). */
  latentChannels: number;
  /** Width of each encoder level (all equal). */
  encoderBlockOutChannels: number[];
  /** Width of each decoder level (all equal). */
  decoderBlockOutChannels: number[];
  /** Residual blocks per encoder level. */
  numEncoderBlocks: number[];
  /** Residual blocks per decoder level. */
  numDecoderBlocks: number[];
  /** The pipeline's latent scaling factor (1 for TAESD; not applied by encode/decode). */
  scalingFactor: number;
  /** The pipeline's latent shift (0 for TAESD; not applied by encode/decode). */
  shiftFactor: number;
}

/** TAESD for SD 1.x/2.x: the configuration the published weights were trained with. */
export const TAESD_SD_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  _class_name: 'AutoencoderTiny',
  in_channels: 3,
  out_channels: 3,
  latent_channels: 4,
  encoder_block_out_channels: [64, 64, 64, 64],
  decoder_block_out_channels: [64, 64, 64, 64],
  num_encoder_blocks: [1, 3, 3, 3],
  num_decoder_blocks: [3, 3, 3, 1],
  act_fn: 'relu',
  upsample_fn: 'nearest',
  upsampling_scaling_factor: 2,
  scaling_factor: 1.0,
  shift_factor: 0.0,
});

function positiveInt(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new HgcError('ARG', `AutoencoderTiny config: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function intList(v: unknown, key: string, allowZero: boolean): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < (allowZero ? 0 : 1))) {
    throw new HgcError('ARG', `AutoencoderTiny config: ${key} must be a non-empty list of ${allowZero ? 'non-negative' : 'positive'} integers, ` +
      `got ${JSON.stringify(v)}`);
  }
  return [...(v as number[])];
}

function finite(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HgcError('ARG', `AutoencoderTiny config: ${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Parses a diffusers AutoencoderTiny config object (missing keys take TAESD's values). `block_out_channels`, which
 * diffusers writes but ignores, is used only when the encoder/decoder lists are absent. Only the TAESD choices of
 * activation (relu) and upsampling (nearest, 2×) are supported, with one width per encoder and per decoder.
 */
export function parseTinyAutoencoderConfig(raw: unknown): TinyAutoencoderConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new HgcError('ARG', 'AutoencoderTiny config must be an object');
  const c = raw as Record<string, unknown>;
  const get = (key: string): unknown => (c[key] !== undefined ? c[key] : TAESD_SD_CONFIG[key]);
  const fallbackWidths = c.block_out_channels;
  const widths = (key: string): number[] =>
    intList(c[key] !== undefined ? c[key] : fallbackWidths !== undefined ? fallbackWidths : TAESD_SD_CONFIG[key], key, false);
  const cfg: TinyAutoencoderConfig = {
    inChannels: positiveInt(get('in_channels'), 'in_channels'),
    outChannels: positiveInt(get('out_channels'), 'out_channels'),
    latentChannels: positiveInt(get('latent_channels'), 'latent_channels'),
    encoderBlockOutChannels: widths('encoder_block_out_channels'),
    decoderBlockOutChannels: widths('decoder_block_out_channels'),
    numEncoderBlocks: intList(get('num_encoder_blocks'), 'num_encoder_blocks', true),
    numDecoderBlocks: intList(get('num_decoder_blocks'), 'num_decoder_blocks', true),
    scalingFactor: finite(get('scaling_factor'), 'scaling_factor'),
    shiftFactor: finite(get('shift_factor'), 'shift_factor'),
  };
  for (const [key, allowed] of [['act_fn', 'relu'], ['upsample_fn', 'nearest'], ['upsampling_scaling_factor', 2]] as const) {
    const v = get(key);
    if (v !== allowed) {
      throw new HgcError('ARG', `AutoencoderTiny config: ${key} = ${JSON.stringify(v)} is not supported (supported: ${JSON.stringify(allowed)})`);
    }
  }
  for (const [w, n, side] of [
    [cfg.encoderBlockOutChannels, cfg.numEncoderBlocks, 'encoder'],
    [cfg.decoderBlockOutChannels, cfg.numDecoderBlocks, 'decoder'],
  ] as const) {
    if (w.length !== n.length) {
      throw new HgcError('ARG', `AutoencoderTiny config: ${side}_block_out_channels ${JSON.stringify(w)} and num_${side}_blocks ` +
        `${JSON.stringify(n)} must have the same length`);
    }
    if (w.some((x) => x !== w[0])) {
      throw new HgcError('ARG', `AutoencoderTiny config: ${side}_block_out_channels ${JSON.stringify(w)}: levels of different widths are not supported`);
    }
  }
  return cfg;
}

/** A layer of a {@link Sequential}: a module with a one-tensor forward. */
export interface SequentialLayer extends Module {
  /** x → the layer's output. */
  forward(x: Tensor): Tensor;
}

/** ReLU as a (parameter-free) layer. */
export class ReLU extends Module implements SequentialLayer {
  forward(x: Tensor): Tensor {
    return ops.relu(x);
  }
}

/** Nearest-neighbour 2× upsampling as a (parameter-free) layer. */
export class UpsampleNearest2x extends Module implements SequentialLayer {
  forward(x: Tensor): Tensor {
    return ops.upsampleNearest2x(x);
  }
}

/** Layers run one after the other, named '0', '1', ... (PyTorch's nn.Sequential). */
export class Sequential extends Module implements SequentialLayer {
  /** The layers in order; layer i is the child named `i`. */
  readonly layers: readonly SequentialLayer[];
  /** @param layers - The layers, registered as children `0`, `1`, …. */
  constructor(layers: readonly SequentialLayer[]) {
    super();
    this.layers = layers.map((l, i) => this.child(String(i), l));
  }

  /** Runs every layer, each in its MAC scope; intermediate results are released as soon as they are used. */
  forward(x: Tensor): Tensor {
    let h = x;
    this.layers.forEach((layer, i) => {
      const next = this.scoped(String(i), () => layer.forward(h));
      if (h !== x) h.dispose();
      h = next;
    });
    return h;
  }
}

/** TAESD's residual block: conv-ReLU-conv-ReLU-conv plus the input (1×1 conv when the widths differ), then ReLU. */
export class AutoencoderTinyBlock extends Module implements SequentialLayer {
  /** The three 3×3 convs with ReLUs between them (`conv.0`, `conv.2`, `conv.4`). */
  readonly conv: Sequential;
  /** 1×1 conv without bias projecting the input for the skip; null when the widths match. */
  readonly skip: Conv2d | null;
  readonly #convs: readonly [Conv2d, Conv2d, Conv2d];

  /**
   * @param inChannels - Input channels.
   * @param outChannels - Output channels.
   */
  constructor(inChannels: number, outChannels: number) {
    super();
    const c0 = new Conv2d(inChannels, outChannels, 3, { padding: 1 });
    const c2 = new Conv2d(outChannels, outChannels, 3, { padding: 1 });
    const c4 = new Conv2d(outChannels, outChannels, 3, { padding: 1 });
    this.conv = this.child('conv', new Sequential([c0, new ReLU(), c2, new ReLU(), c4]));
    this.#convs = [c0, c2, c4];
    this.skip = inChannels !== outChannels ? this.child('skip', new Conv2d(inChannels, outChannels, 1, { bias: false })) : null;
  }

  /** x [N, Cin, H, W] → relu(conv(x) + skip(x)), [N, Cout, H, W]. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [c0, c2, c4] = this.#convs;
      const skip = this.skip ? this.scoped('skip', () => this.skip!.forward(x)) : x;
      const sum = this.scoped('conv', () => {
        const a = ops.relu(this.scoped('0', () => c0.forward(x)));
        const b = ops.relu(this.scoped('2', () => c2.forward(a)));
        return this.scoped('4', () => c4.forward(b, skip));  // the skip add is fused into the last conv
      });
      return ops.relu(sum);
    });
  }
}

/** diffusers' EncoderTiny: `layers` applied to the image mapped from [−1, 1] to [0, 1]. */
export class EncoderTiny extends Module {
  /**
   * The flat layer sequence (`layers.N`): convs (stride 2 from the second level on), residual blocks, the final conv to
   * the latent channels.
   */
  readonly layers: Sequential;
  /** @param config - The parsed configuration (widths and block counts per level). */
  constructor(readonly config: TinyAutoencoderConfig) {
    super();
    const widths = config.encoderBlockOutChannels;
    const list: SequentialLayer[] = [];
    widths.forEach((w, i) => {
      if (i === 0) list.push(new Conv2d(config.inChannels, w, 3, { padding: 1 }));
      else list.push(new Conv2d(widths[i - 1]!, w, 3, { padding: 1, stride: 2, bias: false }));
      for (let b = 0; b < config.numEncoderBlocks[i]!; b++) list.push(new AutoencoderTinyBlock(w, w));
    });
    list.push(new Conv2d(widths[widths.length - 1]!, config.latentChannels, 3, { padding: 1 }));
    this.layers = this.child('layers', new Sequential(list));
  }

  /** image [N, Cin, H, W] in [−1, 1] → latents [N, latent, H/8, W/8] (for four levels). */
  forward(image: Tensor): Tensor {
    return tidy(() => {
      const unit = ops.scale(image, 0.5, 0.5);
      return this.scoped('layers', () => this.layers.forward(unit));
    });
  }
}

/** diffusers' DecoderTiny: tanh(z/3)·3, `layers`, then ·2 − 1. */
export class DecoderTiny extends Module {
  /**
   * The flat layer sequence (`layers.N`): conv + ReLU, then per level its blocks, an upsampling and a conv (the last
   * conv to the image channels).
   */
  readonly layers: Sequential;
  /** @param config - The parsed configuration (widths and block counts per level). */
  constructor(readonly config: TinyAutoencoderConfig) {
    super();
    const widths = config.decoderBlockOutChannels;
    const list: SequentialLayer[] = [new Conv2d(config.latentChannels, widths[0]!, 3, { padding: 1 }), new ReLU()];
    widths.forEach((w, i) => {
      const last = i === widths.length - 1;
      for (let b = 0; b < config.numDecoderBlocks[i]!; b++) list.push(new AutoencoderTinyBlock(w, w));
      if (!last) list.push(new UpsampleNearest2x());
      list.push(new Conv2d(w, last ? config.outChannels : w, 3, { padding: 1, bias: last }));
    });
    this.layers = this.child('layers', new Sequential(list));
  }

  /** latents [N, latent, h, w] → image [N, Cout, 8h, 8w] (for four levels) in about [−1, 1], not clamped. */
  forward(latents: Tensor): Tensor {
    return tidy(() => {
      const clamped = ops.scale(ops.tanh(latents, 1 / 3), 3);
      const unit = this.scoped('layers', () => this.layers.forward(clamped));
      return ops.scale(unit, 2, -1);
    });
  }
}

/** diffusers' AutoencoderTiny (TAESD). Build from a config, then load weights (see {@link loadTaesd}). */
export class TinyAutoencoder extends Module {
  /** The parsed configuration the model was built from (a private copy). */
  readonly config: TinyAutoencoderConfig;
  /** The encoder (image in [−1, 1] → latents). */
  readonly encoder: EncoderTiny;
  /** The decoder (latents → image in about [−1, 1]). */
  readonly decoder: DecoderTiny;

  /** `config`: a diffusers AutoencoderTiny config object (default: TAESD for SD 1.x/2.x) or a parsed config. */
  constructor(config: Record<string, unknown> | TinyAutoencoderConfig = TAESD_SD_CONFIG) {
    super();
    this.config = isParsed(config) ? { ...config } : parseTinyAutoencoderConfig(config);
    this.encoder = this.child('encoder', new EncoderTiny(this.config));
    this.decoder = this.child('decoder', new DecoderTiny(this.config));
  }

  /** Downsampling factor from image to latents (8 for TAESD). */
  get downsampleFactor(): number {
    return 2 ** (this.config.encoderBlockOutChannels.length - 1);
  }

  /** Upsampling factor from latents to image (8 for TAESD). */
  get upsampleFactor(): number {
    return 2 ** (this.config.decoderBlockOutChannels.length - 1);
  }

  /**
   * latents [N, 4, h, w] (SD diffusion-space latents, as the scheduler leaves them) → image [N, 3, 8h, 8w] in
   * about [−1, 1] (diffusers' convention; not clamped).
   */
  decode(latents: Tensor): Tensor {
    checkInput(latents, this.config.latentChannels, 'TinyAutoencoder.decode: latents');
    return this.scoped('decoder', () => this.decoder.forward(latents));
  }

  /** {@link decode}, then clamp(x/2 + 0.5, 0, 1): an image in [0, 1] (the clamp runs on the host). */
  decodeToUnit(latents: Tensor): Tensor {
    return tidy(() => clampUnit(ops.scale(this.decode(latents), 0.5, 0.5)));
  }

  /** image [N, 3, H, W] in [−1, 1] → latents [N, 4, H/8, W/8] (scaling factor 1: SD diffusion-space latents). */
  encode(image: Tensor): Tensor {
    checkInput(image, this.config.inChannels, 'TinyAutoencoder.encode: image');
    return this.scoped('encoder', () => this.encoder.forward(image));
  }
}

function isParsed(c: Record<string, unknown> | TinyAutoencoderConfig): c is TinyAutoencoderConfig {
  return Array.isArray((c as TinyAutoencoderConfig).encoderBlockOutChannels) && typeof (c as TinyAutoencoderConfig).latentChannels === 'number';
}

function checkInput(x: Tensor, channels: number, what: string): void {
  check(x instanceof Tensor || (x !== null && typeof x === 'object' && (x as { isTensor?: unknown }).isTensor === true), 'ARG',
    () => `${what} must be a Tensor`);
  check(x.rank === 4 && x.shape[1] === channels, 'SHAPE', () => `${what} must be [N, ${channels}, H, W], got ${shapeStr(x.shape)}`);
}

/** clamp(x, 0, 1) (NaN → 0), on the host, returned on x's device in x's dtype. */
function clampUnit(x: Tensor): Tensor {
  if (x.device === 'meta') return x.clone();
  const v = x.toFloat32();
  for (let i = 0; i < v.length; i++) {
    const a = v[i]!;
    v[i] = a > 0 ? (a < 1 ? a : 1) : 0;
  }
  return tensor(v, x.shape, { dtype: x.dtype, device: x.device });
}

/** Options of {@link loadTaesd}. */
export interface TaesdLoadOptions extends ModelFolderOptions {
  /**
   * Which halves to load (default 'all'). With 'decoder' only `taesd_decoder.safetensors` is needed (and `encode`
   * throws, its parameters not being loaded); likewise 'encoder'.
   */
  parts?: 'all' | 'encoder' | 'decoder';
}

/** Original TAESD file name of the encoder weights. */
export const TAESD_ENCODER_FILE = 'taesd_encoder.safetensors';
/** Original TAESD file name of the decoder weights. */
export const TAESD_DECODER_FILE = 'taesd_decoder.safetensors';

/** Where {@link loadTaesd} looks without a folder: $HGC_TAESD_DIR, else the project's shared/fixtures/taesd. */
export function defaultTaesdDir(): string {
  const env = process.env.HGC_TAESD_DIR;
  if (env !== undefined && env !== '') return env;
  // dist/src/models → the folder holding the project → shared/fixtures/taesd beside it
  return nodePath.resolve(__dirname, '../../../../shared/fixtures/taesd');
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function readTinyConfig(file: string): Record<string, unknown> {
  const json = readJsonFile(file);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new HgcError('IO', `${file}: must be a JSON object`);
  const cls = (json as Record<string, unknown>)._class_name;
  if (cls !== undefined && cls !== 'AutoencoderTiny') throw new HgcError('IO', `${file}: describes a ${String(cls)}, not an AutoencoderTiny`);
  return json as Record<string, unknown>;
}

/**
 * The diffusers name (relative to the encoder or decoder) of original file key `key`, or undefined when the key
 * has no layer index (or is the decoder's index 0, the parameter-free clamp).
 */
function originalKey(side: 'encoder' | 'decoder', key: string): string | undefined {
  const m = /^(\d+)\.(.+)$/.exec(key);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (side === 'encoder') return `layers.${n}.${m[2]}`;
  return n >= 1 ? `layers.${n - 1}.${m[2]}` : undefined;
}

/** The original file's key for `layers.N.rest` of the encoder or decoder (the inverse of {@link originalKey}). */
function fileKey(side: 'encoder' | 'decoder', name: string): string | undefined {
  const m = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  return `${Number(m[1]) + (side === 'decoder' ? 1 : 0)}.${m[2]}`;
}

/**
 * Loads TAESD from `dir` (default {@link defaultTaesdDir}), in either layout:
 *
 * - original: `taesd_encoder.safetensors` and `taesd_decoder.safetensors` (any float dtype; BF16 is widened to f32
 *   exactly), keys mapped as described in the module header; the architecture comes from `config.json` when the
 *   folder has one, else {@link TAESD_SD_CONFIG};
 * - diffusers: `config.json` (an AutoencoderTiny) with `diffusion_pytorch_model.safetensors` (or a variant or a
 *   sharded index, as for the UNet).
 *
 * Parameters are f32 on the CPU unless `opts` says otherwise (`opts.variant` applies to the diffusers layout).
 * Every problem is an HgcError('IO') naming the file.
 */
export function loadTaesd(dir: string = defaultTaesdDir(), opts: TaesdLoadOptions = {}): TinyAutoencoder {
  check(typeof dir === 'string' && dir.length > 0, 'ARG', 'loadTaesd: dir must be a non-empty string');
  const parts = opts.parts ?? 'all';
  check(parts === 'all' || parts === 'encoder' || parts === 'decoder', 'ARG', () => `loadTaesd: parts must be 'all', 'encoder' or 'decoder', got ${JSON.stringify(parts)}`);
  const sides: ('encoder' | 'decoder')[] = parts === 'all' ? ['encoder', 'decoder'] : [parts];
  const loadOpts: { dtype: DType; device: Device } = { dtype: opts.dtype ?? 'f32', device: opts.device ?? 'cpu' };
  const strict = opts.strict ?? true;
  const configFile = nodePath.join(dir, 'config.json');
  const originalFiles = { encoder: nodePath.join(dir, TAESD_ENCODER_FILE), decoder: nodePath.join(dir, TAESD_DECODER_FILE) };
  const original = isFile(originalFiles.encoder) || isFile(originalFiles.decoder);

  if (!original && !isFile(configFile)) {
    throw new HgcError('IO', `TAESD folder ${dir}: found neither ${TAESD_ENCODER_FILE} / ${TAESD_DECODER_FILE} nor a diffusers ` +
      `config.json${fs.existsSync(dir) ? '' : ' (the folder does not exist)'}`);
  }
  const model = new TinyAutoencoder(isFile(configFile) ? readTinyConfig(configFile) : TAESD_SD_CONFIG);
  const files: SafetensorsFile[] = [];
  let whole: LazyTensorSource | null = null;
  try {
    for (const side of sides) {
      let source: LazyTensorSource;
      let describe: (name: string) => string;
      if (original) {
        const path = originalFiles[side];
        if (!isFile(path)) throw new HgcError('IO', `TAESD folder ${dir}: ${nodePath.basename(path)} is missing`);
        const file = SafetensorsFile.open(path);
        files.push(file);
        const entries = new Map<string, SourceEntry>();
        const unmapped: string[] = [];
        for (const key of file.keys()) {
          const name = originalKey(side, key);
          if (name === undefined) unmapped.push(key);
          else entries.set(name, { file, key });
        }
        if (unmapped.length > 0 && strict) {
          throw new HgcError('IO', `${path}: tensors with no ${side} layer: ${unmapped.slice(0, 20).join(', ')}`);
        }
        source = new LazyTensorSource(path, entries, [], loadOpts);
        describe = (name) => {
          const key = entries.get(name)?.key ?? fileKey(side, name);
          return key === undefined ? `${side}.${name}` : `${nodePath.basename(path)}:${key} (${side}.${name})`;
        };
      } else {
        whole ??= openModelFolderWeights(dir, { ...loadOpts, ...(opts.variant === undefined ? {} : { variant: opts.variant }) });
        const entries = new Map<string, SourceEntry>();
        const prefix = `${side}.`;
        for (const name of whole.keys()) {
          const info = whole.info(name)!;
          if (name.startsWith(prefix)) entries.set(name.slice(prefix.length), { file: info.file, key: info.key });
        }
        if (strict && parts === 'all') {
          const stray = whole.keys().filter((n) => !n.startsWith('encoder.') && !n.startsWith('decoder.'));
          if (stray.length > 0) throw new HgcError('IO', `${whole.where}: tensors outside encoder/decoder: ${stray.slice(0, 20).join(', ')}`);
        }
        source = new LazyTensorSource(whole.where, entries, [], loadOpts);
        describe = (name) => `${side}.${name}`;
      }
      try {
        loadWeightsInto(model[side], source, { strict, describe });
      } finally {
        source.close();
      }
    }
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    for (const f of files) f.close();
    whole?.close();
  }
}
