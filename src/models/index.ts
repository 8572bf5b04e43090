/** Models of the SD1.5 family. */
export { type ControlNetConfig, parseControlNetConfig, parseUNetConfig, type UNetConfig } from './config.js';
export { type BlockHook, DownBlock, MidBlock, UpBlock } from './blocks.js';
export { TimestepEmbedding } from './embeddings.js';
export { type DownBlockType, type Json, type UpBlockType } from './config.js';
export { ControlNetConditioningEmbedding, type ControlNetForwardOptions, ControlNetModel, type ControlNetOutput } from './controlnet.js';
export { type BranchHook, type EncoderHook, type Residuals, UNet2DConditionModel, type UNetForwardOptions } from './unet.js';
export { SD15_CONTROLNET_CONFIG, SD15_UNET_CONFIG } from './sd15.js';
export { ToyTextEncoder } from './toy-text-encoder.js';
export {
  AutoencoderTinyBlock, DecoderTiny, Sequential, type SequentialLayer, defaultTaesdDir, EncoderTiny, loadTaesd, parseTinyAutoencoderConfig,
  TAESD_DECODER_FILE, TAESD_ENCODER_FILE, TAESD_SD_CONFIG, type TaesdLoadOptions, TinyAutoencoder, type TinyAutoencoderConfig,
} from './taesd.js';
export {
  Attention, BasicTransformerBlock, type CrossAttentionController, FeedForward, ModuleList, Transformer2DModel,
  withCrossAttentionController,
} from './attention.js';
export { Downsample2D, ResnetBlock2D, Upsample2D } from './resnet.js';
export {
  AutoencoderKL, type AutoencoderKLConfig, DownEncoderBlock2D, loadVae, parseAutoencoderKLConfig, SD15_VAE_CONFIG,
  UpDecoderBlock2D, VaeAttention, VaeDecoder, VaeDownsample2D, VaeEncoder, type VaeEncoding, type VaeForwardOptions,
  type VaeHook, VaeMidBlock2D, VaeResnetBlock2D,
} from './vae.js';
export {
  ClipAttention, ClipEncoder, ClipEncoderLayer, ClipMlp, type ClipTextConfig, ClipTextEmbeddings, type ClipTextForwardOptions,
  type ClipTextLoadOptions, ClipTextModel, type ClipTextOutput, ClipTextTransformer, Embedding, loadClipTextModel,
  parseClipTextConfig, SD15_CLIP_TEXT_CONFIG,
} from './clip-text.js';
