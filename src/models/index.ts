/** Models of the SD1.5 family. */
export { type ControlNetConfig, parseControlNetConfig, parseUNetConfig, type UNetConfig } from './config.js';
export { type BlockHook } from './blocks.js';
export { ControlNetConditioningEmbedding, type ControlNetForwardOptions, ControlNetModel, type ControlNetOutput } from './controlnet.js';
export { UNet2DConditionModel, type UNetForwardOptions } from './unet.js';
export { SD15_CONTROLNET_CONFIG, SD15_UNET_CONFIG } from './sd15.js';
export { ToyTextEncoder } from './toy-text-encoder.js';
export {
  AutoencoderTinyBlock, DecoderTiny, defaultTaesdDir, EncoderTiny, loadTaesd, parseTinyAutoencoderConfig,
  TAESD_DECODER_FILE, TAESD_ENCODER_FILE, TAESD_SD_CONFIG, type TaesdLoadOptions, TinyAutoencoder, type TinyAutoencoderConfig,
} from './taesd.js';
