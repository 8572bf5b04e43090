/** The generation pipeline. */
export { prepareControl, resizeBilinear } from './control-image.js';
export { type ControlInput, denoise, type DenoiseOptions, type StepInfo } from './denoise.js';
export { decodeLatents, encodeText, generate, type GenerateOptions, type GenerateResult, type TextEncoder } from './generate.js';
