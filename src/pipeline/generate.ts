/**
 * generate(): prompt + control image → image. Text encoding (any encoder with encode(prompt) or CLIP's
 * tokenizer + text model), controllable denoising (denoise()), and decoding with the SD VAE or TAESD.
 */
import { check } from '../errors.js';
import type { ClipTextModel } from '../models/clip-text.js';
import type { TinyAutoencoder } from '../models/taesd.js';
import type { AutoencoderKL } from '../models/vae.js';
import * as ops from '../ops/index.js';
import { tidy } from '../scope.js';
import type { ClipTokenizer } from '../text/clip-tokenizer.js';
import type { Tensor } from '../tensor.js';
import { type DenoiseOptions, denoise } from './denoise.js';

/** A text encoder: either one that maps a prompt to [1, tokens, C] itself, or CLIP's tokenizer + model. */
export type TextEncoder = {
  /** The prompt's embedding [1, tokens, C] (owned by the caller); also called with the negative prompt ('' by default). */
  encode(prompt: string): Tensor;
} | {
  /** Turns the prompt into 77 token ids. */
  tokenizer: ClipTokenizer;
  /** Maps the ids to the embedding (its last hidden state is used). */
  model: ClipTextModel;
};

/** Options of {@link generate}: denoise()'s, with prompts and a decoder instead of embeddings. */
export interface GenerateOptions extends Omit<DenoiseOptions, 'cond' | 'uncond'> {
  /** Encodes the prompt and the negative prompt. */
  textEncoder: TextEncoder;
  /** What to draw (the conditional prompt). */
  prompt: string;
  /** Unconditional prompt for CFG (default ''). */
  negativePrompt?: string;
  /** Decoder of the latents: the SD VAE (latents divided by its scaling factor first) or TAESD. */
  vae: AutoencoderKL | TinyAutoencoder;
}

/** What {@link generate} returns (both owned by the caller). */
export interface GenerateResult {
  /** [1, 3, H, W] in [0, 1]. */
  image: Tensor;
  /** The final latents [1, 4, h, w] in diffusion space (before the VAE's scaling). */
  latents: Tensor;
}

/** A prompt's embedding [1, tokens, C] with either kind of {@link TextEncoder} (owned by the caller). */
export function encodeText(enc: TextEncoder, prompt: string): Tensor {
  if ('encode' in enc) return enc.encode(prompt);
  const ids = enc.tokenizer.encode(prompt);
  const out = enc.model.forward([ids]);
  out.pooled.dispose();
  for (const h of out.hiddenStates ?? []) h.dispose();
  return out.lastHiddenState;
}

/** Decodes latents to an image in [0, 1]. */
export function decodeLatents(vae: AutoencoderKL | TinyAutoencoder, latents: Tensor): Tensor {
  const scale = vae.config.scalingFactor;
  // The decoder runs where its parameters are and in their dtype; the image comes back f32.
  const param = vae.namedParameters().find(([, p]) => p.tensor)?.[1].tensor;  // (a decoder-only TAESD has no encoder weights)
  return tidy(() => {
    let z = scale === 1 ? latents : ops.scale(latents, 1 / scale);
    if (param && z.device !== param.device) z = z.to(param.device);
    if (param && z.dtype !== param.dtype) z = z.cast(param.dtype);
    const image = vae.decode(z);  // about [−1, 1]
    const unit = clamp01(ops.scale(image, 0.5, 0.5));
    return unit.dtype === 'f32' ? unit : unit.cast('f32');
  });
}

/** min(max(x, 0), 1) from two ReLUs: 1 − relu(1 − relu(x)) (inside a tidy). */
function clamp01(x: Tensor): Tensor {
  return ops.scale(ops.relu(ops.scale(ops.relu(x), -1, 1)), -1, 1);
}

/**
 * Prompt + control image(s) → image: encodes the prompts, runs {@link denoise} (CFG, ControlNets, scheduler, cache
 * policy, progress and cancellation as there), and decodes the latents with `vae` to [0, 1].
 */
export function generate(opts: GenerateOptions): GenerateResult {
  check(typeof opts.prompt === 'string', 'ARG', 'generate: prompt must be a string');
  const guidance = opts.guidance ?? 7.5;
  const cond = encodeText(opts.textEncoder, opts.prompt);
  const uncond = guidance !== 1 ? encodeText(opts.textEncoder, opts.negativePrompt ?? '') : undefined;
  try {
    const latents = denoise({ ...opts, cond, uncond });
    try {
      return { image: decodeLatents(opts.vae, latents), latents };
    } catch (e) {
      latents.dispose();
      throw e;
    }
  } finally {
    cond.dispose();
    uncond?.dispose();
  }
}
