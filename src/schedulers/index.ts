/** Diffusion schedulers (samplers) matching diffusers' DDIM, Euler, DPM-Solver++ 2M and UniPC. */
export { type BetaSchedule, alphasCumprod, makeBetas } from './betas.js';
export { type DDIMConfig, DDIMScheduler } from './ddim.js';
export { type DPMSolverConfig, DPMSolverMultistepScheduler } from './dpm-solver.js';
export { type EulerConfig, EulerDiscreteScheduler } from './euler.js';
export { type CreateSchedulerOptions, createScheduler, schedulerNames } from './factory.js';
export type { FinalSigmasType } from './sigmas.js';
export type { TimestepSpacing } from './spacing.js';
export type { BaseSchedulerConfig, Scheduler, SchedulerName, StepResult } from './types.js';
export { type UniPCConfig, UniPCMultistepScheduler } from './unipc.js';
