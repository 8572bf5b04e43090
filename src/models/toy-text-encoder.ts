/**
 * The toy ControlNet model's text encoder (../shared/fixtures/toy-controlnet/text): a 14-word vocabulary,
 * token embedding + position embedding, no transformer. It stands in for CLIP with the small trained model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { tensor } from '../creation.js';
import { HgcError } from '../errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import type { Tensor } from '../tensor.js';

/**
 * The toy model's text encoder: lower-cased words of a 14-word vocabulary between start and end ids, padded to
 * maxLength, embedded as token + position embedding (host computation, f32).
 */
export class ToyTextEncoder {
  readonly #vocab: Map<string, number>;
  readonly #tokens: Float32Array;
  readonly #positions: Float32Array;
  /** Width of each embedding (`embedding_dim` in vocab.json). */
  readonly dim: number;
  /** Tokens per prompt, start and end included, after padding (`max_length` in vocab.json). */
  readonly maxLength: number;
  readonly #ids: { pad: number; start: number; end: number };

  /** Loads vocab.json and toy_text_encoder.safetensors from `dir`. */
  constructor(dir: string) {
    let spec: { vocab: string[]; pad_id: number; start_id: number; end_id: number; max_length: number; embedding_dim: number };
    try {
      spec = JSON.parse(fs.readFileSync(path.join(dir, 'vocab.json'), 'utf8'));
    } catch (e) {
      throw new HgcError('IO', `toy text encoder: cannot read ${path.join(dir, 'vocab.json')}: ${(e as Error).message}`);
    }
    this.#vocab = new Map(spec.vocab.map((w, i) => [w, i]));
    this.#ids = { pad: spec.pad_id, start: spec.start_id, end: spec.end_id };
    this.dim = spec.embedding_dim;
    this.maxLength = spec.max_length;
    const file = SafetensorsFile.open(path.join(dir, 'toy_text_encoder.safetensors'));
    try {
      const tok = file.load('token_embedding'), pos = file.load('position_embedding');
      this.#tokens = tok.toFloat32();
      this.#positions = pos.toFloat32();
      tok.dispose();
      pos.dispose();
    } finally {
      file.close();
    }
  }

  /** Token ids [maxLength] of a prompt (HgcError ARG for a word outside the vocabulary). */
  tokenize(prompt: string): number[] {
    const text = prompt.trim();
    if (text === '') return new Array<number>(this.maxLength).fill(this.#ids.pad);
    const words = text.toLowerCase().replace(/,/g, ' , ').split(/\s+/).filter((w) => w !== '');
    const ids = [this.#ids.start, ...words.map((w) => {
      const id = this.#vocab.get(w);
      if (id === undefined) throw new HgcError('ARG', `toy text encoder: '${w}' is not in the vocabulary (${[...this.#vocab.keys()].join(' ')})`);
      return id;
    }), this.#ids.end];
    if (ids.length > this.maxLength) throw new HgcError('ARG', `toy text encoder: prompt has ${ids.length} tokens, at most ${this.maxLength}`);
    while (ids.length < this.maxLength) ids.push(this.#ids.pad);
    return ids;
  }

  /** The embedding [1, maxLength, dim] of a prompt ('' is the unconditional prompt). */
  encode(prompt: string, device: Tensor['device'] = 'cpu'): Tensor {
    const ids = this.tokenize(prompt);
    const out = new Float32Array(this.maxLength * this.dim);
    ids.forEach((id, i) => {
      for (let d = 0; d < this.dim; d++) out[i * this.dim + d] = this.#tokens[id * this.dim + d]! + this.#positions[i * this.dim + d]!;
    });
    return tensor(out, [1, this.maxLength, this.dim], { device });
  }
}
