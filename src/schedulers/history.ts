/** @internal The multistep schedulers' memory: recent x₀ estimates (owned, kept out of `tidy` scopes) and step order. */
import { HgcError } from '../errors.js';
import { keep } from '../scope.js';
import type { Tensor } from '../tensor.js';

export class History {
  /** Oldest first, at most `capacity` tensors. */
  readonly outputs: Tensor[] = [];
  /** How many steps have run since the last clear, capped at `capacity` (diffusers' lower_order_nums). */
  warmSteps = 0;
  #capacity: number;
  #nextIndex = -1;
  #shape: readonly number[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /**
   * Checks that step `stepIndex` may run on `sample`: a fresh history accepts any index, step 0 restarts,
   * otherwise steps must come in order (ARG) with an unchanged shape (SHAPE).
   */
  begin(stepIndex: number, sample: Tensor, who: string): void {
    if (stepIndex === 0) this.clear();
    if (this.#nextIndex >= 0) {
      if (stepIndex !== this.#nextIndex) {
        throw new HgcError('ARG', `${who}: stepIndex ${stepIndex} out of order (expected ${this.#nextIndex}); call reset() to start over`);
      }
      const a = this.#shape, b = sample.shape;
      if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
        throw new HgcError('SHAPE',
          `${who}: sample [${b.join(', ')}] differs from the history's [${a.join(', ')}]; call reset() for a new generation`);
      }
    }
  }

  /** Records step `stepIndex`'s x₀ (taking ownership), dropping the oldest beyond capacity. */
  push(x0: Tensor, stepIndex: number): void {
    this.outputs.push(keep(x0));
    while (this.outputs.length > this.#capacity) this.outputs.shift()!.dispose();
    this.#shape = x0.shape;
    this.#nextIndex = stepIndex + 1;
  }

  /** Counts a finished step (diffusers' warm-up counter). */
  finish(): void {
    if (this.warmSteps < this.#capacity) this.warmSteps++;
  }

  /** Disposes the stored tensors and forgets the step order. */
  clear(): void {
    for (const t of this.outputs) t.dispose();
    this.outputs.length = 0;
    this.warmSteps = 0;
    this.#nextIndex = -1;
    this.#shape = [];
  }
}
