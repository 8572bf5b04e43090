/**
 * hgc: tensors and hand-written CPU/CUDA kernels for Node.js, built to run Stable Diffusion 1.5 +
 * ControlNet with a hybrid-grained cache.
 *
 * @packageDocumentation
 */
export { full, ones, randn, type CreateOptions, type RandnOptions, tensor, zeros } from './creation.js';
export {
  bf16BitsToF32, decode, type DType, DTYPES, dtypeSize, encode, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits,
} from './dtype.js';
export { HgcError, type HgcErrorCode } from './errors.js';
export {
  CudaGraph, type CudaGraphState, type GraphCaptureFailure, type GraphedFn, graphsSupported, StepGraphs, type StepGraphStats, type StepGraphsOptions,
} from './graph/index.js';
export {
  LazyTensorSource, loadControlNet, loadUNet, loadWeightsInto, openModelFolderWeights,
  type LoadIntoOptions, type ModelFolderOptions, type SourceEntry, type WeightLoadOptions,
} from './io/model-folder.js';
export {
  LDM_CONTROLNET_PREFIX, LDM_UNET_PREFIX, ldmToDiffusersControlNet, ldmToDiffusersUNet,
  loadControlNetFromSingleFile, loadUNetFromSingleFile, type LdmKeyOptions, type SingleFileOptions,
} from './io/ldm-keys.js';
export {
  SafetensorsFile, loadSafetensors, writeSafetensors, MAX_HEADER_BYTES,
  type SafetensorsDType, type SafetensorsInfo, type SafetensorsLoadOptions,
} from './io/safetensors.js';
export { type MaskImage, readMaskPng, readPng, type ReadPngOptions, type RgbImage, toUint8, writePng, writeRgbPng } from './io/image.js';
export {
  edgeMap, type EdgeMapOptions, type Rgb, rgbToTensor, segmentationColorMap, sobelMagnitude, TOY_CONTROL_PALETTE,
} from './io/control-maps.js';
export { loadTaesd, type TaesdLoadOptions, TinyAutoencoder } from './models/taesd.js';
export { AutoencoderKL, loadVae } from './models/vae.js';
export { CLIP_BOS, CLIP_EOS, CLIP_MAX_LENGTH, ClipTokenizer, normalizeClipText } from './text/clip-tokenizer.js';
export { ClipTextModel, loadClipTextModel } from './models/clip-text.js';
export * as cache from './cache/index.js';
export * as evaluation from './eval/index.js';
export * as models from './models/index.js';
export * as nn from './nn/index.js';
export * as ops from './ops/index.js';
export { countMacs, type MacCategory, type MacConvention, MacCounter, type MacRecord, macScope } from './profile/macs.js';
export {
  type ControlInput, decodeLatents, denoise, type DenoiseOptions, encodeText, generate, type GenerateOptions, type GenerateResult, prepareControl,
  resizeBilinear, type StepInfo, type TextEncoder,
} from './pipeline/index.js';
export { runMacs, type RunMacsOptions } from './profile/policy-macs.js';
export { perBlock, runTotals, sd15StepMacs, type Sd15MacsOptions, type StepMacs } from './profile/sd15-macs.js';
export { devices, type DeviceInfo, emptyCache, memory, type MemoryInfo, numThreads, type PoolStats } from './runtime.js';
export {
  type BaseSchedulerConfig, type BetaSchedule, type CreateSchedulerOptions, type DDIMConfig, DDIMScheduler, type DPMSolverConfig,
  DPMSolverMultistepScheduler, type EulerConfig, EulerDiscreteScheduler, type FinalSigmasType, type Scheduler, type SchedulerName,
  type StepResult, type TimestepSpacing, type UniPCConfig, UniPCMultistepScheduler, alphasCumprod, createScheduler, makeBetas,
  schedulerNames,
} from './schedulers/index.js';
export { keep, tidy } from './scope.js';
export { type Device, numel, Tensor } from './tensor.js';
export * as viz from './viz/index.js';
