/** `createScheduler(name, { steps, ...config })`: a scheduler by name with its timesteps already set. */
import { HgcError } from '../errors.js';
import { type DDIMConfig, DDIMScheduler } from './ddim.js';
import { type DPMSolverConfig, DPMSolverMultistepScheduler } from './dpm-solver.js';
import { type EulerConfig, EulerDiscreteScheduler } from './euler.js';
import type { Scheduler, SchedulerName } from './types.js';
import { type UniPCConfig, UniPCMultistepScheduler } from './unipc.js';

/** Options of {@link createScheduler}: the number of inference steps plus the chosen class's config. */
export type CreateSchedulerOptions = {
  /** Number of inference steps: an integer from 1 to the number of training timesteps (1000 for SD1.5). */
  steps: number;
} & DDIMConfig & EulerConfig & DPMSolverConfig & UniPCConfig;

const makers: Record<SchedulerName, (config: CreateSchedulerOptions) => Scheduler> = {
  ddim: (c) => new DDIMScheduler(c),
  euler: (c) => new EulerDiscreteScheduler(c),
  'dpmpp-2m': (c) => new DPMSolverMultistepScheduler(c),
  unipc: (c) => new UniPCMultistepScheduler(c),
};

/** The names {@link createScheduler} accepts. */
export const schedulerNames = Object.freeze(Object.keys(makers) as SchedulerName[]);

/** A fresh scheduler (`'ddim' | 'euler' | 'dpmpp-2m' | 'unipc'`) with `setTimesteps(steps)` done. */
export function createScheduler(name: SchedulerName, options: CreateSchedulerOptions): Scheduler {
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(makers, name)) {
    throw new HgcError('ARG', `createScheduler: unknown scheduler '${String(name)}' (expected one of ${schedulerNames.join(', ')})`);
  }
  if (options === null || typeof options !== 'object') {
    throw new HgcError('ARG', 'createScheduler: options must be an object with steps');
  }
  const scheduler = makers[name](options);
  scheduler.setTimesteps(options.steps);
  return scheduler;
}
