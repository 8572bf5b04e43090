/** The nn layer: Module (diffusers parameter names, state-dict loading) and the basic layers. */
export { type LoadOptions, type LoadReport, Module, type Parameter, type TensorSource, weight } from './module.js';
export { Conv2d, GroupNorm, LayerNorm, Linear } from './layers.js';
