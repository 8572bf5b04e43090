/**
 * Composition of policies, with a fixed precedence:
 * 1. CFG gate: the step runs with CFG only if every policy keeps it.
 * 2. Block level: the first policy (in argument order) that asks for anything other than a plain full step —
 *    a shallow/auto/decoder step, storing a branch, the encoder or residuals, or reusing ControlNet residuals —
 *    decides block, storeBranch(es), storeEncoder, storeResiduals, controlnet, reuse and reuseAxis.
 * 3. Attention level: the first policy whose cross-attention plan is not plain 'compute' decides it.
 * begin/observe reach every policy; decide is asked of the block-level owner.
 * Example: compose(deepCache({ interval: 3 }), tgate({ gateStep: 10 })) is DeepCache + T-GATE.
 */
import { HgcError } from '../errors.js';
import type { CachePolicy, StepContext, StepPlan } from './policy.js';

function ownsBlock(p: StepPlan): boolean {
  return p.block.kind !== 'full' || p.storeBranch !== undefined || p.storeEncoder === true || p.storeResiduals === true || p.controlnet !== 'run';
}

function ownsAttention(p: StepPlan): boolean {
  return p.crossAttention !== 'compute' || p.crossAttentionLayer !== undefined;
}

/**
 * Combines policies into one with the precedence above (CFG gate, then block level, then attention level);
 * `memoryBytes` is the sum of theirs and `name` joins theirs with ' + '. HgcError('ARG') when called with no policy.
 */
export function compose(...policies: CachePolicy[]): CachePolicy {
  if (policies.length === 0) throw new HgcError('ARG', 'compose: needs at least one policy');
  let blockOwner: CachePolicy | undefined;
  return {
    name: policies.map((p) => p.name).join(' + '),
    begin(info) {
      for (const p of policies) p.begin?.(info);
    },
    plan(ctx: StepContext): StepPlan {
      const plans = policies.map((p) => p.plan(ctx));
      const blockIdx = plans.findIndex(ownsBlock);
      const attnIdx = plans.findIndex(ownsAttention);
      const block = plans[blockIdx < 0 ? 0 : blockIdx]!;
      const attn = plans[attnIdx < 0 ? 0 : attnIdx]!;
      blockOwner = policies[blockIdx < 0 ? 0 : blockIdx];
      return {
        cfg: plans.every((p) => p.cfg),
        block: block.block,
        storeBranch: block.storeBranch,
        storeBranches: block.storeBranches,
        storeEncoder: block.storeEncoder,
        storeResiduals: block.storeResiduals,
        controlnet: block.controlnet,
        reuse: block.reuse,
        reuseAxis: block.reuseAxis,
        crossAttention: attn.crossAttention,
        crossAttentionLayer: attn.crossAttentionLayer,
        replayMaps: attn.replayMaps,
      };
    },
    decide(ctx, drift) {
      return blockOwner?.decide?.(ctx, drift) ?? true;
    },
    observe(ctx, obs) {
      for (const p of policies) p.observe?.(ctx, obs);
    },
    memoryBytes: (info) => policies.reduce((s, p) => s + (p.memoryBytes?.(info) ?? 0), 0),
  };
}
