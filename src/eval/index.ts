/** Evaluation helpers (the toy ControlNet protocol). */
export { agreement, MiouAccumulator, psnrUint8, segmentByPalette, TOY_IMAGE_PALETTE } from './metrics.js';
