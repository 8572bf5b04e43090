/**
 * The step timeline of a cache policy, traced on the meta device: the pipeline runs at full size with no data
 * (as {@link runMacs} does), the policy plans every step, and each step's plan, observation and MAC records say
 * how the UNet ran, whether CFG was kept and whether the ControlNet ran. Online policies (which decide from
 * feature drift, absent on the meta device) trace as their all-full upper bound.
 */
import type { CachePolicy } from '../cache/policy.js';
import type { MacCounter } from '../profile/macs.js';
import { type RunMacsOptions, runMacs } from '../profile/policy-macs.js';
import type { TimelineStep } from './timeline.js';

/** A traced generation: what each step did and the MAC counter of the whole run. */
export interface PolicyTrace {
  /** What each step computed. */
  steps: TimelineStep[];
  /** The MAC records of the run, tagged with { step, phase }. */
  counter: MacCounter;
}

/** Traces `policy` (undefined: the uncached run) on the meta device; `opts` as for {@link runMacs}. */
export function tracePolicy(policy: CachePolicy | undefined, opts: Omit<RunMacsOptions, 'onPlan'> = {}): PolicyTrace {
  const steps: TimelineStep[] = [];
  const cfg = (opts.guidance ?? 7.5) !== 1;
  const counter = runMacs(policy, {
    ...opts,
    onPlan: ({ step, plan, observation }) => {
      const unet = observation.full ? 'full' : plan.block.kind === 'decoder' ? 'decoder' : 'shallow';
      steps[step] = { unet, cfg: cfg && plan.cfg, controlnet: true, attention: plan.crossAttention };
    },
  });
  const total = opts.steps ?? 20;
  // The ControlNet ran in a step when its output convolutions (controlnet_*_block(s)) did work in it.
  const ran = new Set(counter.records.filter((r) => /^controlnet_(down_blocks|mid_block)/.test(r.path)).map((r) => r.tags.step));
  for (let i = 0; i < total; i++) {
    steps[i] = { ...(steps[i] ?? { unet: 'full', cfg, attention: 'compute' }), controlnet: ran.has(i) };
  }
  return { steps, counter };
}
