/** The operator set, exported to users as `import { ops } from 'hgc'`. */
export { attention, type AttentionMode, type AttentionOptions } from './attention.js';
export { conv2d, conv2dShape, type Conv2dOptions } from './conv.js';
export {
  add, broadcastShapes, div, geglu, gelu, type GeluOptions, mul, quickGelu, relu, scale, sigmoid, silu, sub, tanh,
} from './elementwise.js';
export { timestepEmbedding, type TimestepEmbeddingOptions } from './embedding.js';
export { concat, nchwToTokens, permute, slice, split, tokensToNchw, upsampleNearest2x } from './layout.js';
export { type Activation, linear, type LinearOptions, matmul, type MatmulOptions, matmulShape } from './matmul.js';
export { groupNorm, type GroupNormOptions, layerNorm, type LayerNormOptions, softmax } from './norm.js';
export { cosineSimilarity, l1Norm, relativeL1 } from './similarity.js';
