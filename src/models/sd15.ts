/**
 * The architecture of Stable Diffusion 1.5's UNet and ControlNet 1.1 (the diffusers config.json fields that
 * matter), so full-size models can be built — random or on the meta device — without any download.
 */
export const SD15_UNET_CONFIG = {
  in_channels: 4,
  out_channels: 4,
  block_out_channels: [320, 640, 1280, 1280],
  layers_per_block: 2,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  cross_attention_dim: 768,
  attention_head_dim: 8,
  norm_num_groups: 32,
  norm_eps: 1e-5,
  flip_sin_to_cos: true,
  freq_shift: 0,
  downsample_padding: 1,
  use_linear_projection: false,
  sample_size: 64,
} as const;

export const SD15_CONTROLNET_CONFIG = {
  ...SD15_UNET_CONFIG,
  conditioning_embedding_out_channels: [16, 32, 96, 256],
  controlnet_conditioning_channel_order: 'rgb',
} as const;
