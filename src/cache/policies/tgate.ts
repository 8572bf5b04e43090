/**
 * T-GATE (Liu et al.): cross-attention runs normally until the gate step g; at step g−1 every cross-attention
 * layer keeps the mean of its unconditional and conditional outputs; from g on CFG is dropped (batch 1) and
 * every cross-attention layer returns that fused output. Applied to the ControlNet's layers as well.
 */
import { HgcError } from '../../errors.js';
import type { CachePolicy, StepPlan } from '../policy.js';
import { attentionBytes } from './memory.js';

/** Options of {@link tgate}. */
export interface TgateOptions {
  /** Gate step g (default 10, T-GATE's default). */
  gateStep?: number;
}

/**
 * T-GATE: cross-attention computed normally before the gate step g, captured (mean of the unconditional and
 * conditional outputs) at step g − 1, and from step g on CFG is dropped (batch 1) and every cross-attention layer
 * returns the captured output. Without CFG it changes nothing. HgcError('ARG') for a gateStep that is not an
 * integer ≥ 1.
 */
export function tgate(opts: TgateOptions = {}): CachePolicy {
  const g = opts.gateStep ?? 10;
  if (!Number.isInteger(g) || g < 1) throw new HgcError('ARG', `tgate: gateStep must be an integer >= 1, got ${g}`);
  return {
    name: `tgate(gateStep=${g})`,
    plan(ctx): StepPlan {
      const after = ctx.cfg && ctx.index >= g;
      return {
        cfg: ctx.cfg && !after,
        block: { kind: 'full' },
        controlnet: 'run',
        crossAttention: !ctx.cfg ? 'compute' : after ? 'fused' : ctx.index === g - 1 ? 'capture' : 'compute',
      };
    },
    memoryBytes: (info) => attentionBytes(info, 'fused'),
  };
}
