/** Cache policies and their machinery. */
export { AttentionCache } from './attention-cache.js';
export { compose } from './compose.js';
export { CachedGeneration, type PreparedControl, type StepInputs } from './generation.js';
export {
  type BlockPlan, type CachePolicy, type CrossAttentionMode, fullPlan, type GenerationInfo, type ReuseAxis,
  type StepContext, type StepObservation, type StepPlan,
} from './policy.js';
export { controlNetEvery } from './policies/controlnet-interval.js';
export { deepCache, type DeepCacheOptions } from './policies/deepcache.js';
export { defaultKeySteps, fasterDiffusion, type FasterDiffusionOptions } from './policies/faster-diffusion.js';
export {
  defaultHgcBranches, defaultHgcFullSteps, fullStepsFromCalibration, hgc, type HgcCalibration, hgcCalibrationRecorder, type HgcOptions,
} from './policies/hgc.js';
export { none } from './policies/none.js';
export { tgate, type TgateOptions } from './policies/tgate.js';
export { FeatureHistory, lagrangeWeights, reuseOrder } from './history.js';
export { alphaCumprodAt, checkReuseAxis, reuseAxes, reusePosition } from './reuse-axis.js';
export { CacheStore, type CachePoolStats } from './store.js';
export { parsePolicySpec, policyNames } from './spec.js';
