/** `none`: no caching beyond the exact (lossless) caches; latents are bit-identical to an uncached run. */
import { type CachePolicy, fullPlan } from '../policy.js';

export function none(): CachePolicy {
  return { name: 'none', plan: fullPlan, memoryBytes: () => 0 };
}
