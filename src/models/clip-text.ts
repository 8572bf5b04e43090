/**
 * The SD1.5 text encoder: transformers' CLIPTextModel, with its parameter names (`text_model.embeddings.*`,
 * `text_model.encoder.layers.N.*`, `text_model.final_layer_norm.*`).
 *
 * Token + position embeddings, then pre-LayerNorm transformer layers (causal multi-head self-attention and
 * an MLP, each with a residual), then a final LayerNorm. No attention mask besides the causal one: as in
 * SD1.5, padding tokens are attended. The token embedding lookup runs on the host (the table is read once
 * and cached); everything after it runs on the parameters' device.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

import { tensor } from '../creation.js';
import { type DType } from '../dtype.js';
import { HgcError, check, shapeStr } from '../errors.js';
import { LazyTensorSource, type SourceEntry, type WeightLoadOptions, loadWeightsInto, readJsonFile } from '../io/model-folder.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { LayerNorm, Linear } from '../nn/layers.js';
import { Module, type Parameter, weight } from '../nn/module.js';
import type { Activation } from '../ops/matmul.js';
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import { type Device, Tensor } from '../tensor.js';
import { ModuleList } from './attention.js';

/** A validated CLIPTextConfig (the fields the model uses). */
export interface ClipTextConfig {
  /** Rows of the token embedding table (`vocab_size`; 49408 for SD1.5). */
  vocabSize: number;
  /** Width H of the embeddings and of every layer (`hidden_size`; 768 for SD1.5). */
  hiddenSize: number;
  /** Inner width of each MLP (`intermediate_size`; 3072 for SD1.5). */
  intermediateSize: number;
  /** Number of transformer layers (`num_hidden_layers`; 12). */
  numHiddenLayers: number;
  /** Attention heads per layer; must divide hiddenSize (`num_attention_heads`; 12 for SD1.5). */
  numAttentionHeads: number;
  /** Rows of the position embedding table, the longest accepted sequence (`max_position_embeddings`; 77). */
  maxPositionEmbeddings: number;
  /** transformers' hidden_act name ('quick_gelu' for CLIP). */
  hiddenAct: string;
  /** ε of every LayerNorm (`layer_norm_eps`; 1e-5). */
  layerNormEps: number;
  /** 2 selects the legacy pooling rule (argmax of the ids); any other id pools at its first occurrence. */
  eosTokenId: number;
}

/** The SD1.5 text encoder (openai/clip-vit-large-patch14's text tower). */
export const SD15_CLIP_TEXT_CONFIG: Readonly<ClipTextConfig> = Object.freeze({
  vocabSize: 49408, hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12,
  maxPositionEmbeddings: 77, hiddenAct: 'quick_gelu', layerNormEps: 1e-5, eosTokenId: 2,
});

const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  quick_gelu: 'quick_gelu', gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_fast: 'gelu_tanh',
};

function isParsed(c: unknown): c is ClipTextConfig {
  return c !== null && typeof c === 'object' && typeof (c as ClipTextConfig).hiddenSize === 'number' && typeof (c as ClipTextConfig).hiddenAct === 'string';
}

/** Validates a transformers CLIPTextConfig object (config.json); HgcError('ARG') naming the bad key. */
export function parseClipTextConfig(c: Record<string, unknown>): ClipTextConfig {
  check(c !== null && typeof c === 'object' && !Array.isArray(c), 'ARG', 'CLIP text config must be an object');
  const int = (key: string, fallback: number, min = 1): number => {
    const v = c[key] ?? fallback;
    check(typeof v === 'number' && Number.isInteger(v) && v >= min, 'ARG', () => `CLIP text config: ${key} must be an integer >= ${min}, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const hiddenSize = int('hidden_size', 512);
  const numAttentionHeads = int('num_attention_heads', 8);
  check(hiddenSize % numAttentionHeads === 0, 'ARG', () => `CLIP text config: hidden_size ${hiddenSize} does not split into ${numAttentionHeads} heads`);
  const hiddenAct = c.hidden_act ?? 'quick_gelu';
  check(typeof hiddenAct === 'string' && hiddenAct in ACTIVATIONS, 'ARG',
    () => `CLIP text config: hidden_act ${JSON.stringify(hiddenAct)} is not supported (${Object.keys(ACTIVATIONS).join(', ')})`);
  const eps = c.layer_norm_eps ?? 1e-5;
  check(typeof eps === 'number' && eps > 0 && Number.isFinite(eps), 'ARG', () => `CLIP text config: layer_norm_eps must be a positive number, got ${JSON.stringify(eps)}`);
  return {
    vocabSize: int('vocab_size', 49408),
    hiddenSize,
    intermediateSize: int('intermediate_size', 2048),
    numHiddenLayers: int('num_hidden_layers', 12),
    numAttentionHeads,
    maxPositionEmbeddings: int('max_position_embeddings', 77),
    hiddenAct,
    layerNormEps: eps,
    eosTokenId: int('eos_token_id', 49407, 0),
  };
}

/** A lookup table with one row per id (PyTorch's nn.Embedding; parameter `weight` [num, dim]). */
export class Embedding extends Module {
  /** The table [num, dim] (`weight`). */
  readonly weight: Parameter;
  #host: { source: Tensor; data: Float32Array } | null = null;
  /**
   * @param num - Number of rows (ids 0 … num − 1).
   * @param dim - Width of each row.
   */
  constructor(readonly num: number, readonly dim: number) {
    super();
    this.weight = this.param('weight', [num, dim]);
  }

  /** The table as host floats, read once per loaded weight tensor. */
  hostTable(): Float32Array {
    const w = weight(this.weight, 'weight');
    if (this.#host?.source !== w) this.#host = { source: w, data: w.toFloat32() };
    return this.#host.data;
  }

  /** Drops the cached host copy of the table. */
  releaseHostCopy(): void {
    this.#host = null;
  }

  override dispose(): void {
    this.#host = null;
    super.dispose();
  }
}

/**
 * CLIP's input embeddings (`text_model.embeddings`): token embedding plus learned position embedding, looked up on the
 * host.
 */
export class ClipTextEmbeddings extends Module {
  /** Token table [vocabSize, hiddenSize]. */
  readonly token_embedding: Embedding;
  /** Position table [maxPositionEmbeddings, hiddenSize]; row i is added at position i. */
  readonly position_embedding: Embedding;
  /** @param config - The text encoder configuration (gives the table sizes). */
  constructor(readonly config: ClipTextConfig) {
    super();
    this.token_embedding = this.child('token_embedding', new Embedding(config.vocabSize, config.hiddenSize));
    this.position_embedding = this.child('position_embedding', new Embedding(config.maxPositionEmbeddings, config.hiddenSize));
  }

  /** ids [B][N] → token + position embeddings [B, N, H], on the parameters' device and dtype. */
  forward(ids: readonly (readonly number[])[]): Tensor {
    const w = weight(this.token_embedding.weight, 'token_embedding.weight');
    const batch = ids.length, n = ids[0]!.length, dim = this.config.hiddenSize;
    if (w.device === 'meta') return Tensor.meta([batch, n, dim], w.dtype);
    const tokens = this.token_embedding.hostTable(), positions = this.position_embedding.hostTable();
    const out = new Float32Array(batch * n * dim);
    for (let b = 0; b < batch; b++) {
      const row = ids[b]!;
      for (let i = 0; i < n; i++) {
        const t = row[i]! * dim, p = i * dim, o = (b * n + i) * dim;
        for (let d = 0; d < dim; d++) out[o + d] = tokens[t + d]! + positions[p + d]!;
      }
    }
    return tensor(out, [batch, n, dim], { device: w.device, dtype: w.dtype });
  }
}

/** Multi-head causal self-attention (q_proj, k_proj, v_proj, out_proj, all with biases). */
export class ClipAttention extends Module {
  /** Query projection, dim → dim, with bias. */
  readonly q_proj: Linear;
  /** Key projection, dim → dim, with bias. */
  readonly k_proj: Linear;
  /** Value projection, dim → dim, with bias. */
  readonly v_proj: Linear;
  /** Output projection, dim → dim, with bias; the residual is added in the same kernel. */
  readonly out_proj: Linear;
  /**
   * @param dim - Model width H.
   * @param heads - Number of attention heads (must divide `dim`).
   */
  constructor(dim: number, readonly heads: number) {
    super();
    this.q_proj = this.child('q_proj', new Linear(dim, dim));
    this.k_proj = this.child('k_proj', new Linear(dim, dim));
    this.v_proj = this.child('v_proj', new Linear(dim, dim));
    this.out_proj = this.child('out_proj', new Linear(dim, dim));
  }

  /** x [B, N, H] → out_proj(attention) + residual. */
  forward(x: Tensor, residual: Tensor): Tensor {
    return tidy(() => {
      const q = this.scoped('q_proj', () => this.q_proj.forward(x));
      const k = this.scoped('k_proj', () => this.k_proj.forward(x));
      const v = this.scoped('v_proj', () => this.v_proj.forward(x));
      const o = ops.attention(q, k, v, { heads: this.heads, causal: true });
      return this.scoped('out_proj', () => this.out_proj.forward(o, { residual }));
    });
  }
}

/**
 * CLIP's MLP (`mlp`): fc1 to the inner width, the configured activation (fused into fc1), fc2 back to the model width.
 */
export class ClipMlp extends Module {
  /** dim → inner, with bias; the activation is fused into it. */
  readonly fc1: Linear;
  /** inner → dim, with bias; the residual is added in the same kernel. */
  readonly fc2: Linear;
  /**
   * @param dim - Model width H.
   * @param inner - Inner width (intermediateSize).
   * @param activation - Activation after fc1 (`quick_gelu` for CLIP).
   */
  constructor(dim: number, inner: number, readonly activation: Activation) {
    super();
    this.fc1 = this.child('fc1', new Linear(dim, inner));
    this.fc2 = this.child('fc2', new Linear(inner, dim));
  }

  /** fc2(act(fc1(x))) + residual. */
  forward(x: Tensor, residual: Tensor): Tensor {
    return tidy(() => {
      const h = this.scoped('fc1', () => this.fc1.forward(x, { activation: this.activation }));
      return this.scoped('fc2', () => this.fc2.forward(h, { residual }));
    });
  }
}

/** One pre-LayerNorm transformer layer (`encoder.layers.N`): x + attn(ln1(x)), then h + mlp(ln2(h)). */
export class ClipEncoderLayer extends Module {
  /** Causal multi-head self-attention. */
  readonly self_attn: ClipAttention;
  /** LayerNorm before the self-attention. */
  readonly layer_norm1: LayerNorm;
  /** The MLP. */
  readonly mlp: ClipMlp;
  /** LayerNorm before the MLP. */
  readonly layer_norm2: LayerNorm;
  constructor(config: ClipTextConfig) {
    super();
    const dim = config.hiddenSize;
    this.self_attn = this.child('self_attn', new ClipAttention(dim, config.numAttentionHeads));
    this.layer_norm1 = this.child('layer_norm1', new LayerNorm(dim, config.layerNormEps));
    this.mlp = this.child('mlp', new ClipMlp(dim, config.intermediateSize, ACTIVATIONS[config.hiddenAct]!));
    this.layer_norm2 = this.child('layer_norm2', new LayerNorm(dim, config.layerNormEps));
  }

  /** x [B, N, H] → [B, N, H]. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const n1 = this.scoped('layer_norm1', () => this.layer_norm1.forward(x));
      const h = this.scoped('self_attn', () => this.self_attn.forward(n1, x));
      const n2 = this.scoped('layer_norm2', () => this.layer_norm2.forward(h));
      return this.scoped('mlp', () => this.mlp.forward(n2, h));
    });
  }
}

/** The stack of numHiddenLayers transformer layers (`text_model.encoder`). */
export class ClipEncoder extends Module {
  /** The layers in order (`layers.N`). */
  readonly layers: ClipEncoderLayer[] = [];
  constructor(config: ClipTextConfig) {
    super();
    const list = this.child('layers', new ModuleList());
    for (let i = 0; i < config.numHiddenLayers; i++) this.layers.push(list.add(String(i), new ClipEncoderLayer(config)));
  }
}

/** The text tower (`text_model`): embeddings, encoder, final LayerNorm. */
export class ClipTextTransformer extends Module {
  /** Token + position embeddings. */
  readonly embeddings: ClipTextEmbeddings;
  /** The transformer layers. */
  readonly encoder: ClipEncoder;
  /** LayerNorm applied to the last layer's output. */
  readonly final_layer_norm: LayerNorm;
  constructor(config: ClipTextConfig) {
    super();
    this.embeddings = this.child('embeddings', new ClipTextEmbeddings(config));
    this.encoder = this.child('encoder', new ClipEncoder(config));
    this.final_layer_norm = this.child('final_layer_norm', new LayerNorm(config.hiddenSize, config.layerNormEps));
  }
}

/** Options of {@link ClipTextModel.forward}. */
export interface ClipTextForwardOptions {
  /** Also return the embeddings and every layer's output (default false). */
  outputHiddenStates?: boolean;
}

/** What {@link ClipTextModel.forward} returns. */
export interface ClipTextOutput {
  /** [B, N, H] after final_layer_norm: what SD1.5 feeds the UNet. */
  lastHiddenState: Tensor;
  /** Shape [B, H]; lastHiddenState at each row's end-of-text token. */
  pooled: Tensor;
  /**
   * With outputHiddenStates: numHiddenLayers + 1 tensors [B, N, H]: the embeddings, then the output of each
   * layer (before the final LayerNorm). hiddenStates[L − 1] is "clip skip 2".
   */
  hiddenStates?: Tensor[];
}

/** transformers' CLIPTextModel. Build from a config, then load weights (see {@link loadClipTextModel}). */
export class ClipTextModel extends Module {
  /** The parsed configuration the model was built from (a private copy). */
  readonly config: ClipTextConfig;
  /** The text tower; parameters live under `text_model.*`, as in transformers. */
  readonly text_model: ClipTextTransformer;

  /** `config`: a transformers CLIPTextConfig object (config.json) or a parsed config (default: SD1.5's). */
  constructor(config: Record<string, unknown> | ClipTextConfig = SD15_CLIP_TEXT_CONFIG) {
    super();
    this.config = isParsed(config) ? { ...config } : parseClipTextConfig(config);
    this.text_model = this.child('text_model', new ClipTextTransformer(this.config));
  }

  /**
   * ids: token ids [B][N] (N ≤ maxPositionEmbeddings, usually 77 from ClipTokenizer.encode) or a tensor
   * [B, N] / [N] of integer values.
   */
  forward(ids: readonly (readonly number[])[] | Tensor, opts: ClipTextForwardOptions = {}): ClipTextOutput {
    check(opts !== null && typeof opts === 'object', 'ARG', 'ClipTextModel.forward: options must be an object');
    const rows = this.#ids(ids);
    const tm = this.text_model;
    return tidy(() => this.scoped('text_model', () => {
      let h = this.scoped('embeddings', () => tm.embeddings.forward(rows));
      const states: Tensor[] = opts.outputHiddenStates ? [h] : [];
      tm.encoder.layers.forEach((layer, i) => {
        const prev = h;
        h = this.scoped(`encoder.layers.${i}`, () => layer.forward(prev));
        if (opts.outputHiddenStates) states.push(h);
        else prev.dispose();
      });
      const last = this.scoped('final_layer_norm', () => tm.final_layer_norm.forward(h));
      const pooled = this.#pool(last, rows);
      return opts.outputHiddenStates ? { lastHiddenState: last, pooled, hiddenStates: states } : { lastHiddenState: last, pooled };
    }));
  }

  /** The pooled rows: argmax of the ids (eos_token_id 2, the legacy rule) or the first eos_token_id. */
  #pool(last: Tensor, rows: readonly (readonly number[])[]): Tensor {
    const [batch, , dim] = last.shape as [number, number, number];
    const positions = rows.map((row) => {
      if (this.config.eosTokenId === 2) {
        let best = 0;
        for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
        return best;
      }
      const at = row.indexOf(this.config.eosTokenId);
      return at < 0 ? 0 : at;
    });
    if (last.device === 'meta') return Tensor.meta([batch, dim], last.dtype);
    const picked = positions.map((p, b) => {
      const r = ops.slice(last, 0, b, b + 1);
      const s = ops.slice(r, 1, p, p + 1);
      r.dispose();
      return s;
    });
    const joined = picked.length === 1 ? picked[0]! : ops.concat(picked, 0);
    const out = joined.reshape([batch, dim]);
    for (const t of picked) t.dispose();
    if (joined !== picked[0]) joined.dispose();
    return out;
  }

  #ids(ids: readonly (readonly number[])[] | Tensor): number[][] {
    let rows: number[][];
    if (ids instanceof Tensor || (ids !== null && typeof ids === 'object' && (ids as { isTensor?: unknown }).isTensor === true)) {
      const t = ids as Tensor;
      check(t.rank === 1 || t.rank === 2, 'SHAPE', () => `ClipTextModel: ids tensor must be [batch, length] or [length], got ${shapeStr(t.shape)}`);
      check(t.device !== 'meta', 'DEVICE', 'ClipTextModel: ids tensor must hold values (not meta)');
      const flat = t.toFloat32();
      const n = t.shape[t.rank - 1]!, b = t.rank === 2 ? t.shape[0]! : 1;
      rows = [];
      for (let i = 0; i < b; i++) rows.push(Array.from(flat.subarray(i * n, (i + 1) * n)));
    } else {
      check(Array.isArray(ids) && ids.every((r) => Array.isArray(r)), 'ARG', 'ClipTextModel: ids must be number[][] (one row per prompt) or a Tensor');
      rows = (ids as readonly (readonly number[])[]).map((r) => [...r]);
    }
    check(rows.length >= 1, 'SHAPE', 'ClipTextModel: ids need at least one row');
    const n = rows[0]!.length;
    check(n >= 1 && n <= this.config.maxPositionEmbeddings, 'SHAPE',
      () => `ClipTextModel: sequence length ${n} must be between 1 and max_position_embeddings ${this.config.maxPositionEmbeddings}`);
    rows.forEach((r, b) => {
      check(r.length === n, 'SHAPE', () => `ClipTextModel: row ${b} has ${r.length} ids, row 0 has ${n}`);
      for (const id of r) {
        check(Number.isInteger(id) && id >= 0 && id < this.config.vocabSize, 'ARG',
          () => `ClipTextModel: row ${b} holds id ${id}, outside the vocabulary [0, ${this.config.vocabSize})`);
      }
    });
    return rows;
  }
}

/** Options of {@link loadClipTextModel}. */
export type ClipTextLoadOptions = WeightLoadOptions;

/** Buffers transformers may store next to the parameters; they are not parameters here. */
const IGNORED_KEYS: ReadonlySet<string> = new Set(['text_model.embeddings.position_ids']);

/**
 * A CLIPTextModel from a transformers folder (`config.json` + `model.safetensors`) or an SD pipeline root
 * with a `text_encoder/` subfolder. Parameters are f32 on the CPU unless `opts` says otherwise.
 */
export function loadClipTextModel(folder: string, opts: ClipTextLoadOptions = {}): ClipTextModel {
  check(typeof folder === 'string' && folder.length > 0, 'ARG', 'loadClipTextModel: folder must be a non-empty string');
  let dir = folder;
  if (!isFile(nodePath.join(dir, 'config.json')) && isFile(nodePath.join(dir, 'text_encoder', 'config.json'))) dir = nodePath.join(dir, 'text_encoder');
  const configFile = nodePath.join(dir, 'config.json');
  if (!isFile(configFile)) {
    throw new HgcError('IO', `CLIP text model folder ${folder}: config.json is missing${fs.existsSync(folder) ? '' : ' (the folder does not exist)'}`);
  }
  const json = readJsonFile(configFile);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new HgcError('IO', `${configFile}: must be a JSON object`);
  const weightsFile = nodePath.join(dir, 'model.safetensors');
  if (!isFile(weightsFile)) throw new HgcError('IO', `CLIP text model folder ${dir}: model.safetensors is missing`);
  const model = new ClipTextModel(json as Record<string, unknown>);
  const dtype: DType = opts.dtype ?? 'f32';
  const device: Device = opts.device ?? 'cpu';
  let source: LazyTensorSource | null = null;
  try {
    const file = SafetensorsFile.open(weightsFile);
    const entries = new Map<string, SourceEntry>();
    for (const k of file.keys()) if (!IGNORED_KEYS.has(k)) entries.set(k, { file, key: k });
    source = new LazyTensorSource(weightsFile, entries, [file], { dtype, device });
    loadWeightsInto(model, source, opts.strict === undefined ? {} : { strict: opts.strict });
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    source?.close();
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
