/**
 * diffusers configs of the SD1.5 family (UNet2DConditionModel, ControlNetModel), validated: a config using a
 * feature these models do not implement is rejected with HgcError('ARG') naming the key, never half-built.
 */
import { HgcError } from '../errors.js';

/** A down block of the SD1.5 UNet/ControlNet: with transformer (cross-attention) layers, or resnets only. */
export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
/** An up block of the SD1.5 UNet: with transformer (cross-attention) layers, or resnets only. */
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';

/** The fields the SD1.5 UNet and ControlNet use. */
export interface UNetConfig {
  /** Latent channels taken by conv_in (`in_channels`, default 4). */
  inChannels: number;
  /** Channels of the predicted noise from conv_out (`out_channels`, default 4). */
  outChannels: number;
  /** Width of each resolution level (`block_out_channels`, default [320, 640, 1280, 1280]). */
  blockOutChannels: number[];
  /** Resnets per down block (`layers_per_block`, default 2); up blocks have one more. */
  layersPerBlock: number;
  /** One type per level, from the highest resolution down (`down_block_types`). */
  downBlockTypes: DownBlockType[];
  /**
   * One type per level, from the lowest resolution up (`up_block_types`); empty for a ControlNet, which has no decoder.
   */
  upBlockTypes: UpBlockType[];
  /** Width of the text embeddings the cross-attention reads (`cross_attention_dim`: 768 for SD1.5, default 1280). */
  crossAttentionDim: number;
  /** Heads per block (diffusers' attention_head_dim has SD1.5 semantics: it is the number of heads). */
  heads: number[];
  /** Groups of every GroupNorm (`norm_num_groups`, default 32). */
  normNumGroups: number;
  /** ε of the resnet GroupNorms and conv_norm_out (`norm_eps`, default 1e-5); the transformers' GroupNorm uses 1e-6. */
  normEps: number;
  /** Whether the sinusoidal timestep embedding puts cos before sin (`flip_sin_to_cos`, default true). */
  flipSinToCos: boolean;
  /** The timestep embedding's downscale_freq_shift (`freq_shift`, default 0). */
  freqShift: number;
  /**
   * Whether Transformer2DModel's proj_in/proj_out are linear layers instead of 1×1 convs (`use_linear_projection`,
   * default false).
   */
  useLinearProjection: boolean;
  /** Padding of the stride-2 3×3 downsampling convs (`downsample_padding`, default 1). */
  downsamplePadding: number;
}

/** ControlNet additions. */
export interface ControlNetConfig extends UNetConfig {
  /**
   * Widths of the control-image embedding's conv stages (`conditioning_embedding_out_channels`, default [16, 32, 96,
   * 256]); each stage after the first halves the resolution.
   */
  conditioningEmbeddingOutChannels: number[];
  /** Channels of the control image (`conditioning_channels`, default 3). */
  conditioningChannels: number;
}

/** A parsed config.json object. */
export type Json = Record<string, unknown>;

function num(c: Json, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HgcError('ARG', `config: ${key} must be a number, got ${JSON.stringify(c[key])}`);
  return v;
}

function ints(c: Json, key: string, fallback?: number[]): number[] {
  const v = c[key] ?? fallback;
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x > 0)) {
    throw new HgcError('ARG', `config: ${key} must be a list of positive integers, got ${JSON.stringify(c[key])}`);
  }
  return v as number[];
}

function unsupported(c: Json, key: string, allowed: unknown[]): void {
  const v = c[key];
  if (v !== undefined && !allowed.some((a) => JSON.stringify(a) === JSON.stringify(v))) {
    throw new HgcError('ARG', `config: ${key} = ${JSON.stringify(v)} is not supported (supported: ${allowed.map((a) => JSON.stringify(a)).join(', ')})`);
  }
}

/** Parses a diffusers UNet2DConditionModel config.json object. */
export function parseUNetConfig(c: Json, opts: { decoder?: boolean } = {}): UNetConfig {
  const decoder = opts.decoder ?? true;
  if (typeof c !== 'object' || c === null) throw new HgcError('ARG', 'config must be an object');
  for (const [key, allowed] of [
    ['addition_embed_type', [null]], ['class_embed_type', [null]], ['num_class_embeds', [null]], ['time_cond_proj_dim', [null]],
    ['encoder_hid_dim', [null]], ['resnet_time_scale_shift', ['default']], ['only_cross_attention', [false]],
    ['upcast_attention', [false, null]], ['dual_cross_attention', [false]], ['transformer_layers_per_block', [1]],
    ['time_embedding_type', ['positional']], ['act_fn', ['silu']], ['center_input_sample', [false]],
    ['conv_in_kernel', [3]], ['conv_out_kernel', [3]], ['mid_block_type', ['UNetMidBlock2DCrossAttn']],
    ['resnet_out_scale_factor', [1]], ['mid_block_scale_factor', [1]], ['attention_type', ['default']],
    ['time_embedding_act_fn', [null]], ['timestep_post_act', [null]], ['cross_attention_norm', [null]],
  ] as [string, unknown[]][]) unsupported(c, key, allowed);
  const blockOutChannels = ints(c, 'block_out_channels', [320, 640, 1280, 1280]);
  const nBlocks = blockOutChannels.length;
  const down = (c.down_block_types ?? ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']) as unknown[];
  const up = (c.up_block_types ?? ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']) as unknown[];
  if (!Array.isArray(down) || down.length !== nBlocks || !down.every((t) => t === 'CrossAttnDownBlock2D' || t === 'DownBlock2D')) {
    throw new HgcError('ARG', `config: down_block_types ${JSON.stringify(c.down_block_types)} must list ${nBlocks} of CrossAttnDownBlock2D / DownBlock2D`);
  }
  if (decoder && (!Array.isArray(up) || up.length !== nBlocks) ||
    !Array.isArray(up) || !up.every((t) => t === 'CrossAttnUpBlock2D' || t === 'UpBlock2D')) {
    throw new HgcError('ARG', `config: up_block_types ${JSON.stringify(c.up_block_types)} must list ${nBlocks} of CrossAttnUpBlock2D / UpBlock2D`);
  }
  // diffusers: num_attention_heads falls back to attention_head_dim, which SD1.5 configs use to mean heads.
  const headsRaw = c.num_attention_heads ?? c.attention_head_dim ?? 8;
  const heads = typeof headsRaw === 'number' ? blockOutChannels.map(() => headsRaw) : ints(c, c.num_attention_heads ? 'num_attention_heads' : 'attention_head_dim');
  if (heads.length !== nBlocks || heads.some((h, i) => blockOutChannels[i]! % h !== 0)) {
    throw new HgcError('ARG', `config: ${JSON.stringify(headsRaw)} heads do not divide block_out_channels ${JSON.stringify(blockOutChannels)}`);
  }
  const cross = c.cross_attention_dim ?? 1280;
  if (typeof cross !== 'number') throw new HgcError('ARG', `config: cross_attention_dim must be a number (per-block lists are not supported)`);
  const layers = c.layers_per_block ?? 2;
  if (!Number.isInteger(layers) || (layers as number) < 1) throw new HgcError('ARG', `config: layers_per_block must be a positive integer`);
  return {
    inChannels: num(c, 'in_channels', 4),
    outChannels: num(c, 'out_channels', 4),
    blockOutChannels,
    layersPerBlock: layers as number,
    downBlockTypes: down as DownBlockType[],
    upBlockTypes: decoder ? (up as UpBlockType[]) : [],
    crossAttentionDim: cross,
    heads,
    normNumGroups: num(c, 'norm_num_groups', 32),
    normEps: num(c, 'norm_eps', 1e-5),
    flipSinToCos: (c.flip_sin_to_cos ?? true) === true,
    freqShift: num(c, 'freq_shift', 0),
    useLinearProjection: (c.use_linear_projection ?? false) === true,
    downsamplePadding: num(c, 'downsample_padding', 1),
  };
}

/** Parses a diffusers ControlNetModel config.json object. */
export function parseControlNetConfig(c: Json): ControlNetConfig {
  unsupported(c, 'controlnet_conditioning_channel_order', ['rgb']);
  unsupported(c, 'global_pool_conditions', [false]);
  unsupported(c, 'addition_embed_type', [null]);
  const base = parseUNetConfig(c, { decoder: false });
  return {
    ...base,
    conditioningEmbeddingOutChannels: ints(c, 'conditioning_embedding_out_channels', [16, 32, 96, 256]),
    conditioningChannels: num(c, 'conditioning_channels', 3),
  };
}
