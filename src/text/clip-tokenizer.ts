/**
 * CLIP's byte-level BPE tokenizer (the SD1.5 text tokenizer), loaded from a Hugging Face tokenizer folder
 * (`vocab.json` + `merges.txt`). It reproduces transformers' slow `CLIPTokenizer` as it behaves without ftfy:
 *
 * 1. literal `<|startoftext|>` / `<|endoftext|>` in the text are split out as special tokens;
 * 2. each remaining piece is normalised: characters of Unicode category C* (except \t \n \r), U+0000 and
 *    U+FFFD are dropped; \t \n \r and Zs characters become spaces; CJK ideographs get spaces around them; NFC;
 *    split on whitespace; lowercase; rejoined with single spaces;
 * 3. CLIP's pre-tokenisation regex cuts words, contractions, single digits and runs of other symbols;
 * 4. each word's UTF-8 bytes are mapped to printable characters and merged by BPE, with `</w>` marking the
 *    end of the word.
 *
 * {@link ClipTokenizer.encode} gives what StableDiffusionPipeline feeds the text encoder:
 * `[<|startoftext|>] + bpe[:75] + [<|endoftext|>]`, padded with `<|endoftext|>` to 77 ids.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';

import { HgcError, check } from '../errors.js';

/** The start-of-text token. */
export const CLIP_BOS = '<|startoftext|>';
/** The end-of-text token (also CLIP's unknown and padding token). */
export const CLIP_EOS = '<|endoftext|>';
/** Length of the id sequences SD1.5 uses. */
export const CLIP_MAX_LENGTH = 77;

/** Number of merges CLIP uses (49152 − 256 − 2). */
const MERGE_COUNT = 49152 - 256 - 2;

/** Words whose BPE is remembered before the cache is cleared. */
const CACHE_LIMIT = 100_000;

/** The special tokens, split out of the text before normalisation. */
const SPECIAL_SPLIT = /(<\|startoftext\|>|<\|endoftext\|>)/;

/** CLIP's pre-tokenisation pattern (case-insensitive, Unicode properties). */
const WORD_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

const CONTROL = /\p{C}/u;
const SPACE_SEPARATOR = /\p{Zs}/u;

/** Each byte → a printable character: printable Latin-1 bytes map to themselves, the others to U+0100 onwards. */
function byteToChar(): string[] {
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return table;
}

function isCjkIdeograph(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df)
    || (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf)
    || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/**
 * The text normalisation transformers' CLIPTokenizer applies when ftfy is absent (its BasicTokenizer with
 * lowercasing, no accent stripping and no punctuation splitting), returning the text joined by single spaces.
 */
export function normalizeClipText(text: string): string {
  let cleaned = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\t' || ch === '\n' || ch === '\r' || ch === ' ') {
      cleaned += ' ';
      continue;
    }
    if (cp === 0 || cp === 0xfffd || CONTROL.test(ch)) continue;
    if (SPACE_SEPARATOR.test(ch)) cleaned += ' ';
    else if (isCjkIdeograph(cp)) cleaned += ` ${ch} `;
    else cleaned += ch;
  }
  const words = cleaned.normalize('NFC').split(/\s+/).filter((w) => w !== '');
  return words.map((w) => (w === CLIP_BOS || w === CLIP_EOS ? w : w.toLowerCase())).join(' ').split(/\s+/).filter((w) => w !== '').join(' ');
}

/** CLIP's tokenizer. Build it with {@link ClipTokenizer.fromFolder} or from a vocabulary and merge list. */
export class ClipTokenizer {
  readonly #vocab: ReadonlyMap<string, number>;
  readonly #ranks: ReadonlyMap<string, number>;
  readonly #bytes = byteToChar();
  readonly #encoder = new TextEncoder();
  readonly #cache = new Map<string, string[]>();
  /** Id of `<|startoftext|>` (49406 for CLIP). */
  readonly bosId: number;
  /** Id of `<|endoftext|>` (49407 for CLIP); also the padding and unknown id. */
  readonly eosId: number;
  /** Length of {@link encode}'s output (77). */
  readonly maxLength: number;

  /**
   * `vocab`: token → id (vocab.json); `merges`: BPE merges in priority order, each "left right" (merges.txt
   * without its `#version` line). Only the first 48,894 merges are used, as CLIP does.
   */
  constructor(vocab: ReadonlyMap<string, number> | Record<string, number>, merges: readonly string[], opts: { maxLength?: number } = {}) {
    const v = vocab instanceof Map ? new Map(vocab) : new Map(Object.entries(vocab as Record<string, number>));
    for (const [k, id] of v) check(Number.isInteger(id) && id >= 0, 'ARG', () => `ClipTokenizer: vocabulary id of ${JSON.stringify(k)} must be a non-negative integer, got ${String(id)}`);
    check(Array.isArray(merges), 'ARG', 'ClipTokenizer: merges must be an array of "left right" strings');
    const bos = v.get(CLIP_BOS), eos = v.get(CLIP_EOS);
    check(bos !== undefined && eos !== undefined, 'ARG', () => `ClipTokenizer: the vocabulary lacks ${bos === undefined ? CLIP_BOS : CLIP_EOS}`);
    const maxLength = opts.maxLength ?? CLIP_MAX_LENGTH;
    check(Number.isInteger(maxLength) && maxLength >= 2, 'ARG', () => `ClipTokenizer: maxLength must be an integer >= 2, got ${maxLength}`);
    const ranks = new Map<string, number>();
    merges.slice(0, MERGE_COUNT).forEach((line, i) => {
      const parts = typeof line === 'string' ? line.split(' ') : [];
      check(parts.length === 2 && parts[0] !== '' && parts[1] !== '', 'ARG',
        () => `ClipTokenizer: merge ${i + 1} must be two symbols separated by one space, got ${JSON.stringify(line)}`);
      const key = `${parts[0]} ${parts[1]}`;
      if (!ranks.has(key)) ranks.set(key, i);
    });
    this.#vocab = v;
    this.#ranks = ranks;
    this.bosId = bos;
    this.eosId = eos;
    this.maxLength = maxLength;
  }

  /** Loads `vocab.json` and `merges.txt` from a Hugging Face tokenizer folder (HgcError IO when unreadable). */
  static fromFolder(dir: string): ClipTokenizer {
    check(typeof dir === 'string' && dir.length > 0, 'ARG', 'ClipTokenizer.fromFolder: dir must be a non-empty string');
    const vocabFile = nodePath.join(dir, 'vocab.json');
    const mergesFile = nodePath.join(dir, 'merges.txt');
    const read = (file: string): string => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new HgcError('IO', `CLIP tokenizer: cannot read ${file}: ${(e as Error).message}`);
      }
    };
    let vocab: unknown;
    try {
      vocab = JSON.parse(read(vocabFile));
    } catch (e) {
      if (e instanceof HgcError) throw e;
      throw new HgcError('IO', `CLIP tokenizer: ${vocabFile} is not valid JSON: ${(e as Error).message}`);
    }
    if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) {
      throw new HgcError('IO', `CLIP tokenizer: ${vocabFile} must be a JSON object of token → id`);
    }
    const lines = read(mergesFile).split(/\r?\n/);
    const start = lines[0]?.startsWith('#version') ? 1 : 0;
    const merges = lines.slice(start).filter((l) => l !== '');
    try {
      return new ClipTokenizer(vocab as Record<string, number>, merges);
    } catch (e) {
      if (e instanceof HgcError && e.code === 'ARG') throw new HgcError('IO', `CLIP tokenizer folder ${dir}: ${e.message}`);
      throw e;
    }
  }

  /** Size of the vocabulary (49408 for CLIP). */
  get vocabSize(): number {
    return this.#vocab.size;
  }

  /** BPE tokens of a prompt, without start/end tokens and without truncation. */
  tokenize(prompt: string): string[] {
    check(typeof prompt === 'string', 'ARG', () => `ClipTokenizer: prompt must be a string, got ${prompt === null ? 'null' : typeof prompt}`);
    const out: string[] = [];
    for (const piece of prompt.split(SPECIAL_SPLIT)) {
      if (piece === '') continue;
      if (piece === CLIP_BOS || piece === CLIP_EOS) {
        out.push(piece);
        continue;
      }
      const text = normalizeClipText(piece);
      for (const m of text.matchAll(WORD_PATTERN)) {
        let mapped = '';
        for (const b of this.#encoder.encode(m[0])) mapped += this.#bytes[b]!;
        out.push(...this.#bpe(mapped));
      }
    }
    return out;
  }

  /** Ids of BPE tokens (the end-of-text id for a token outside the vocabulary). */
  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.#vocab.get(t) ?? this.eosId);
  }

  /**
   * The {@link maxLength} ids SD1.5 uses: start token, the first maxLength − 2 BPE ids, end token, then the
   * end token again as padding.
   */
  encode(prompt: string): number[] {
    const ids = this.convertTokensToIds(this.tokenize(prompt)).slice(0, this.maxLength - 2);
    const out = [this.bosId, ...ids, this.eosId];
    while (out.length < this.maxLength) out.push(this.eosId);
    return out;
  }

  /** {@link encode} of each prompt. */
  encodeBatch(prompts: readonly string[]): number[][] {
    check(Array.isArray(prompts), 'ARG', 'ClipTokenizer.encodeBatch: prompts must be an array of strings');
    return prompts.map((p) => this.encode(p));
  }

  /** BPE of one byte-mapped word; results are cached per word. */
  #bpe(word: string): string[] {
    if (word === CLIP_BOS || word === CLIP_EOS) return [word];
    const cached = this.#cache.get(word);
    if (cached) return cached;
    const symbols = Array.from(word);
    symbols[symbols.length - 1] += '</w>';
    while (symbols.length > 1) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const r = this.#ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const left = symbols[best]!, right = symbols[best + 1]!;
      // Merge every occurrence of the pair, scanning left to right.
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else {
          merged.push(symbols[i]!);
        }
      }
      symbols.length = 0;
      symbols.push(...merged);
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(word, symbols);
    return symbols;
  }
}
