/**
 * The architecture of Stable Diffusion 1.5's UNet and ControlNet 1.1 (the diffusers config.json fields that
 * matter), so full-size models can be built — random or on the meta device — without any download.
 */
export const SD15_UNET_CONFIG = {
  /** Latent channels in. */
  in_channels: 4,
  /** Predicted-noise channels out. */
  out_channels: 4,
  /** Width of each resolution level (64², 32², 16², 8² at 512×512). */
  block_out_channels: [320, 640, 1280, 1280],
  /** Resnets per down block (up blocks have 3). */
  layers_per_block: 2,
  /** Down blocks, highest resolution first; the last has no attention. */
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  /** Up blocks, lowest resolution first; the first has no attention. */
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  /** Width of the CLIP text embeddings. */
  cross_attention_dim: 768,
  /** Despite the name, the number of heads per attention layer (head dims 40/80/160). */
  attention_head_dim: 8,
  /** GroupNorm groups. */
  norm_num_groups: 32,
  /** GroupNorm ε of the resnets and conv_norm_out (the transformers' GroupNorm uses 1e-6). */
  norm_eps: 1e-5,
  /** Timestep embedding puts cos before sin. */
  flip_sin_to_cos: true,
  /** Timestep embedding downscale_freq_shift. */
  freq_shift: 0,
  /** Padding of the stride-2 downsampling convs. */
  downsample_padding: 1,
  /** Transformer2DModel uses 1×1 convs for proj_in/proj_out. */
  use_linear_projection: false,
  /** Latent size (64 = 512 px / 8); informational. */
  sample_size: 64,
} as const;

/**
 * ControlNet 1.1 for SD1.5 (e.g. lllyasviel/control_v11p_sd15_seg): the UNet's encoder settings plus the control-image
 * embedding.
 */
export const SD15_CONTROLNET_CONFIG = {
  ...SD15_UNET_CONFIG,
  /** Widths of the control-image embedding stages (512 px → 64 latent cells through three stride-2 convs). */
  conditioning_embedding_out_channels: [16, 32, 96, 256],
  /** The control image is RGB (the only supported order). */
  controlnet_conditioning_channel_order: 'rgb',
} as const;
