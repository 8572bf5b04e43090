/** `none`: no caching beyond the exact (lossless) caches; latents are bit-identical to an uncached run. */
import { type CachePolicy, fullPlan } from '../policy.js';

/**
 * The uncached baseline: every step runs in full (only the exact, lossless caches apply), so latents are bit-identical
 * to a run without a policy.
 */
export function none(): CachePolicy {
  return { name: 'none', plan: fullPlan, memoryBytes: () => 0 };
}
