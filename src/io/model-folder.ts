/**
 * Loading UNet and ControlNet weights from diffusers model folders.
 *
 * A diffusers model folder holds `config.json` and the weights, in one of these layouts:
 *
 * - `diffusion_pytorch_model.safetensors` (one file);
 * - `diffusion_pytorch_model.<variant>.safetensors`, e.g. the `fp16` variant;
 * - a sharded checkpoint: `diffusion_pytorch_model.safetensors.index.json` (or its variant,
 *   `diffusion_pytorch_model.safetensors.index.fp16.json`) whose `weight_map` names, for every tensor, the
 *   shard file in the same folder that holds it.
 *
 * A pipeline root (a folder with `model_index.json` and no `config.json`) is accepted too: the model is then
 * read from its `unet/` (or `controlnet/`) subfolder.
 *
 * Tensors are read one at a time through a {@link LazyTensorSource}: names and shapes come from the file
 * headers, and a tensor's data is read only when the model takes it and released right after, so a
 * checkpoint is never held in memory twice. On the meta device no tensor data is read at all: only names and
 * shapes are checked. Every problem with the folder or its files is an `HgcError('IO')` naming the file.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

import { type DType, checkDType } from '../dtype.js';
import { HgcError, check, shapeStr } from '../errors.js';
import { ControlNetModel } from '../models/controlnet.js';
import { UNet2DConditionModel } from '../models/unet.js';
import type { LoadReport, Module } from '../nn/module.js';
import { type Device, Tensor, checkDevice } from '../tensor.js';
import { SafetensorsFile, type SafetensorsInfo } from './safetensors.js';

/** Options shared by every weight loader. */
export interface WeightLoadOptions {
  /** dtype of the loaded parameters (default 'f32'); the file's dtype is converted when it differs. */
  dtype?: DType;
  /** Device of the loaded parameters (default 'cpu'). 'meta' checks names and shapes and reads no data. */
  device?: Device;
  /**
   * Throw `HgcError('IO')` naming every missing, unexpected or mis-shaped tensor (default true). With false,
   * the tensors that fit are loaded and the others are left out (see {@link loadWeightsInto}'s report).
   */
  strict?: boolean;
}

/** Options of {@link loadUNet} and {@link loadControlNet}. */
export interface ModelFolderOptions extends WeightLoadOptions {
  /**
   * Weights variant, e.g. 'fp16' for `diffusion_pytorch_model.fp16.safetensors`. Default: the plain files,
   * or the fp16 variant when it is the only one in the folder.
   */
  variant?: string;
}

/** Where one tensor of a {@link LazyTensorSource} lives. */
export interface SourceEntry {
  /** The open file holding it. */
  readonly file: SafetensorsFile;
  /** Its name inside that file (differs from the source name when keys are mapped). */
  readonly key: string;
}

const FLOAT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16']);

function listNames(names: readonly string[], max = 20): string {
  return names.slice(0, max).join(', ') + (names.length > max ? `, … (${names.length} in all)` : '');
}

/**
 * Named tensors spread over one or more open safetensors files, read on demand.
 *
 * {@link keys} and {@link info} come from the file headers. {@link get} reads one tensor; the tensor it returns
 * belongs to the source and stays valid until the next `get` of another name or {@link close} (which also
 * closes the files): copy or cast it to keep it. {@link Module.loadStateDict} does exactly that, so a source
 * can be passed to it directly; {@link loadWeightsInto} does so without reading any tensor twice.
 */
export class LazyTensorSource {
  /** Description used in error messages (the folder or file the tensors come from). */
  readonly where: string;
  readonly #entries: ReadonlyMap<string, SourceEntry>;
  readonly #files: readonly SafetensorsFile[];
  readonly #dtype: DType | undefined;
  readonly #device: Device;
  #current: { name: string; tensor: Tensor } | null = null;
  #closed = false;

  /**
   * `entries` maps each source name to its file and key; `files` are the files to close with the source.
   * Loaded tensors get `opts.dtype` (default: each file's dtype) and `opts.device` (default 'cpu').
   */
  constructor(where: string, entries: ReadonlyMap<string, SourceEntry>, files: readonly SafetensorsFile[],
    opts: { dtype?: DType; device?: Device } = {}) {
    this.where = where;
    this.#entries = entries;
    this.#files = [...files];
    this.#dtype = opts.dtype === undefined ? undefined : checkDType(opts.dtype, 'LazyTensorSource');
    this.#device = checkDevice(opts.device ?? 'cpu');
  }

  /** Number of tensors. */
  get size(): number {
    return this.#entries.size;
  }

  /** The device tensors are loaded to. */
  get device(): Device {
    return this.#device;
  }

  /** Every tensor name. */
  keys(): string[] {
    return [...this.#entries.keys()];
  }

  /** True when the source has a tensor called `name`. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** File, key, dtype and shape of tensor `name` (from the header; reads no data), or undefined. */
  info(name: string): (SafetensorsInfo & SourceEntry) | undefined {
    const e = this.#entries.get(name);
    if (e === undefined) return undefined;
    return { ...e.file.info(e.key), file: e.file, key: e.key };
  }

  /**
   * Tensor `name` (undefined when absent), read from its file now unless it is the tensor the previous call
   * returned. The previously returned tensor of another name is disposed.
   */
  get(name: string): Tensor | undefined {
    return this.#get(name, false);
  }

  /** Disposes the tensor last returned by {@link get}, if any. The source stays usable. */
  release(): void {
    const c = this.#current;
    this.#current = null;
    c?.tensor.dispose();
  }

  /** Releases the last tensor and closes every file. Idempotent. */
  close(): void {
    this.release();
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#files) f.close();
  }

  /**
   * @internal A view for {@link Module.loadStateDict}, which calls `get` once per name to check shapes and
   * then again per name to take the tensor. The view answers the first round with data-less meta tensors of
   * the right shape and reads data only in the second round (a name asked for again starts it), so nothing
   * is read twice. {@link loadWeightsInto} checks the result and falls back to plain reads if the pattern
   * ever differs.
   */
  stateDictView(): { keys(): Iterable<string>; get(name: string): Tensor | undefined } {
    const seen = new Set<string>();
    let shapesOnly = this.#device !== 'meta';
    return {
      keys: () => this.keys(),
      get: (name: string) => {
        if (shapesOnly && seen.has(name)) {
          shapesOnly = false;
          this.release();
        }
        if (shapesOnly && this.#entries.has(name)) seen.add(name);
        return this.#get(name, shapesOnly);
      },
    };
  }

  #get(name: string, metaOnly: boolean): Tensor | undefined {
    check(!this.#closed, 'IO', () => `${this.where}: cannot read tensor ${JSON.stringify(name)}: the source is closed`);
    const e = this.#entries.get(name);
    if (e === undefined) return undefined;
    const c = this.#current;
    if (c !== null && c.name === name && (metaOnly || c.tensor.device === this.#device)) return c.tensor;
    this.release();
    const device: Device = metaOnly ? 'meta' : this.#device;
    const t = e.file.load(e.key, { device, ...(this.#dtype === undefined ? {} : { dtype: this.#dtype }) });
    this.#current = { name, tensor: t };
    return t;
  }
}

/** Options of {@link loadWeightsInto}. */
export interface LoadIntoOptions {
  /** See {@link WeightLoadOptions.strict} (default true). */
  strict?: boolean;
  /** Names tensors in error messages (e.g. with their name in the original checkpoint). */
  describe?: (name: string) => string;
}

/**
 * Checks `source` against `module`'s parameters from the headers alone (names, shapes, float dtypes), then
 * loads it with {@link Module.loadStateDict}, reading each tensor once and releasing it as soon as the module
 * has its copy. In strict mode (default) any problem throws `HgcError('IO')` naming the source and the tensors,
 * before any data is read. Returns the report (clean in strict mode).
 */
export function loadWeightsInto(module: Module, source: LazyTensorSource, opts: LoadIntoOptions = {}): LoadReport {
  const strict = opts.strict ?? true;
  const name = opts.describe ?? ((n: string) => n);
  const params = new Map(module.namedParameters());
  const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
  const badDType: string[] = [];
  for (const [n, p] of params) {
    const info = source.info(n);
    if (info === undefined) {
      report.missing.push(n);
      continue;
    }
    if (info.shape.length !== p.shape.length || info.shape.some((d, i) => d !== p.shape[i])) {
      report.mismatched.push({ name: n, expected: [...p.shape], got: [...info.shape] });
    } else if (!FLOAT_DTYPES.has(info.dtype)) {
      badDType.push(`${name(n)} (${info.dtype} in ${info.file.path})`);
    }
  }
  for (const n of source.keys()) if (!params.has(n)) report.unexpected.push(n);
  if (badDType.length > 0) {
    throw new HgcError('IO', `${source.where}: tensors must be F32, F16 or BF16: ${listNames(badDType)}`);
  }
  const clean = report.missing.length === 0 && report.unexpected.length === 0 && report.mismatched.length === 0;
  if (strict && !clean) {
    const parts: string[] = [];
    if (report.missing.length) parts.push(`missing ${report.missing.length}: ${listNames(report.missing.map(name))}`);
    if (report.unexpected.length) parts.push(`unexpected ${report.unexpected.length}: ${listNames(report.unexpected.map(name))}`);
    if (report.mismatched.length) {
      parts.push(`shape mismatches ${report.mismatched.length}: ${listNames(report.mismatched.map((m) =>
        `${name(m.name)} expected ${shapeStr(m.expected)} got ${shapeStr(m.got)}`))}`);
    }
    throw new HgcError('IO', `${source.where}: the checkpoint does not fit the model: ${parts.join('; ')}`);
  }
  const device = source.device;
  try {
    module.loadStateDict(source.stateDictView(), { strict: false, device });
    // Guard against a change in loadStateDict's access pattern: every loaded parameter must be real.
    /* c8 ignore start */
    if (device !== 'meta' && [...params].some(([n, p]) => source.has(n) && p.tensor?.device === 'meta')) {
      source.release();
      module.loadStateDict(source, { strict: false, device });
    }
    /* c8 ignore stop */
  } finally {
    source.release();
  }
  return report;
}

/** @internal Reads and parses a JSON file, throwing IO naming it. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) { /* c8 ignore start */
    throw new HgcError('IO', `${file}: cannot read: ${(e as Error).message}`);
  } /* c8 ignore stop */
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new HgcError('IO', `${file}: not valid JSON: ${(e as Error).message}`);
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const WEIGHTS = 'diffusion_pytorch_model';

/** The weight files of a folder for one variant (undefined: the plain files). */
function candidates(variant: string | undefined): { single: string; indexes: string[] } {
  if (variant === undefined) return { single: `${WEIGHTS}.safetensors`, indexes: [`${WEIGHTS}.safetensors.index.json`] };
  return {
    single: `${WEIGHTS}.${variant}.safetensors`,
    // diffusers writes the first; later versions and other tools the others.
    indexes: [`${WEIGHTS}.safetensors.index.${variant}.json`, `${WEIGHTS}.safetensors.${variant}.index.json`,
      `${WEIGHTS}.${variant}.safetensors.index.json`],
  };
}

/** The weights file or index of `folder` for `variant` (auto: plain, then fp16), or throws IO. */
function findWeights(folder: string, variant: string | undefined): { kind: 'single' | 'index'; path: string } {
  const variants = variant === undefined ? [undefined, 'fp16'] : [variant];
  for (const v of variants) {
    const c = candidates(v);
    if (isFile(nodePath.join(folder, c.single))) return { kind: 'single', path: nodePath.join(folder, c.single) };
    for (const idx of c.indexes) if (isFile(nodePath.join(folder, idx))) return { kind: 'index', path: nodePath.join(folder, idx) };
  }
  const tried = variants.flatMap((v) => { const c = candidates(v); return [c.single, ...c.indexes]; });
  const bin = isFile(nodePath.join(folder, `${WEIGHTS}.bin`)) ? ` (${WEIGHTS}.bin is there, but only safetensors can be loaded)` : '';
  throw new HgcError('IO', `model folder ${folder}: no weights found${variant === undefined ? '' : ` for variant ${JSON.stringify(variant)}`}` +
    ` (looked for ${tried.join(', ')})${bin}`);
}

/** True when `name` is a plain file name that stays inside its folder. */
function isSafeShardName(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !/[/\\\0]/.test(name) && !nodePath.isAbsolute(name);
}

/**
 * Opens the weights of a diffusers model folder (the files of {@link ModelFolderOptions.variant}) as a lazy
 * source. Validates a sharded index: JSON, `weight_map` an object of name → shard file, shard names plain
 * file names inside the folder, every shard present and holding the tensors the index assigns it. Tensors a
 * shard holds beyond the index are included (so a strict load reports them).
 */
export function openModelFolderWeights(folder: string, opts: ModelFolderOptions = {}): LazyTensorSource {
  check(typeof folder === 'string' && folder.length > 0, 'ARG', 'model folder: path must be a non-empty string');
  const variant = opts.variant;
  check(variant === undefined || (typeof variant === 'string' && /^[A-Za-z0-9_-]+$/.test(variant)), 'ARG',
    () => `model folder: variant must be a name like "fp16", got ${JSON.stringify(variant)}`);
  const found = findWeights(folder, variant);
  const loadOpts = { dtype: opts.dtype ?? 'f32', device: opts.device ?? 'cpu' } as const;
  if (found.kind === 'single') {
    const file = SafetensorsFile.open(found.path);
    const entries = new Map<string, SourceEntry>(file.keys().map((k) => [k, { file, key: k }]));
    return new LazyTensorSource(found.path, entries, [file], loadOpts);
  }

  const index = found.path;
  const json = readJsonFile(index);
  if (!isObject(json)) throw new HgcError('IO', `${index}: must be a JSON object with a weight_map`);
  const map = json.weight_map;
  if (!isObject(map)) throw new HgcError('IO', `${index}: weight_map must be an object of tensor name → shard file, got ${JSON.stringify(map) ?? 'nothing'}`);
  const shardNames = new Set<string>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string') {
      throw new HgcError('IO', `${index}: weight_map[${JSON.stringify(name)}] must be a shard file name, got ${JSON.stringify(shard)}`);
    }
    if (!isSafeShardName(shard)) {
      throw new HgcError('IO', `${index}: shard ${JSON.stringify(shard)} (for ${JSON.stringify(name)}) must be a file name in the folder, without '/', '\\' or '..'`);
    }
    shardNames.add(shard);
  }
  if (shardNames.size === 0) throw new HgcError('IO', `${index}: weight_map is empty`);
  for (const shard of shardNames) {
    if (!isFile(nodePath.join(folder, shard))) throw new HgcError('IO', `${index}: shard ${shard} is missing from ${folder}`);
  }
  const files = new Map<string, SafetensorsFile>();
  try {
    for (const shard of shardNames) files.set(shard, SafetensorsFile.open(nodePath.join(folder, shard)));
    const entries = new Map<string, SourceEntry>();
    for (const [name, shard] of Object.entries(map) as [string, string][]) {
      const file = files.get(shard)!;
      if (!file.has(name)) throw new HgcError('IO', `${index}: tensor ${JSON.stringify(name)} should be in shard ${shard}, which does not hold it`);
      entries.set(name, { file, key: name });
    }
    for (const file of files.values()) {
      for (const k of file.keys()) if (!entries.has(k)) entries.set(k, { file, key: k });
    }
    return new LazyTensorSource(index, entries, [...files.values()], loadOpts);
  } catch (e) {
    for (const f of files.values()) f.close();
    throw e;
  }
}

/**
 * The folder holding the model: `folder` itself when it has config.json, else its `sub` subfolder when
 * `folder` is a pipeline root (model_index.json). Throws IO naming config.json when there is none.
 */
function resolveModelFolder(folder: string, sub: string): string {
  check(typeof folder === 'string' && folder.length > 0, 'ARG', 'model folder: path must be a non-empty string');
  if (!isFile(nodePath.join(folder, 'config.json')) && isFile(nodePath.join(folder, 'model_index.json'))) {
    const inner = nodePath.join(folder, sub);
    if (!isFile(nodePath.join(inner, 'config.json'))) {
      throw new HgcError('IO', `pipeline folder ${folder}: no ${sub}/config.json (model_index.json is there, the ${sub} is not)`);
    }
    return inner;
  }
  if (!isFile(nodePath.join(folder, 'config.json'))) {
    throw new HgcError('IO', `model folder ${folder}: config.json is missing${fs.existsSync(folder) ? '' : ' (the folder does not exist)'}`);
  }
  return folder;
}

function readConfig(folder: string, className: string): Record<string, unknown> {
  const file = nodePath.join(folder, 'config.json');
  const json = readJsonFile(file);
  if (!isObject(json)) throw new HgcError('IO', `${file}: must be a JSON object`);
  const cls = json._class_name;
  if (cls !== undefined && cls !== className) {
    throw new HgcError('IO', `${file}: describes a ${String(cls)}, not a ${className}`);
  }
  return json;
}

/** @internal Builds a model with `make`, fills it from `source` (closed afterwards), disposes it on failure. */
export function buildAndLoad<M extends Module>(make: () => M, source: () => LazyTensorSource, opts: LoadIntoOptions = {}): M {
  const model = make();
  let src: LazyTensorSource | null = null;
  try {
    src = source();
    loadWeightsInto(model, src, opts);
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    src?.close();
  }
}

/**
 * A UNet2DConditionModel from a diffusers folder (`config.json` + weights, see the module description) or a
 * pipeline root with a `unet/` subfolder. Parameters are f32 on the CPU unless `opts` says otherwise.
 */
export function loadUNet(folder: string, opts: ModelFolderOptions = {}): UNet2DConditionModel {
  const dir = resolveModelFolder(folder, 'unet');
  const config = readConfig(dir, 'UNet2DConditionModel');
  return buildAndLoad(() => new UNet2DConditionModel(config), () => openModelFolderWeights(dir, opts), { strict: opts.strict ?? true });
}

/**
 * A ControlNetModel from a diffusers folder (`config.json` + weights) or a pipeline root with a
 * `controlnet/` subfolder. Parameters are f32 on the CPU unless `opts` says otherwise.
 */
export function loadControlNet(folder: string, opts: ModelFolderOptions = {}): ControlNetModel {
  const dir = resolveModelFolder(folder, 'controlnet');
  const config = readConfig(dir, 'ControlNetModel');
  return buildAndLoad(() => new ControlNetModel(config), () => openModelFolderWeights(dir, opts), { strict: opts.strict ?? true });
}
