/**
 * CUDA graphs: record the kernels a function launches once, then replay them with one launch (docs/cuda-graphs.md).
 * `CudaGraph` is the low-level object (capture once, replay many times); {@link StepGraphs} builds the graphed
 * callables the pipeline uses on top of it.
 */
import { check } from '../errors.js';
import { type NativeGraph, native } from '../native.js';
import { devices } from '../runtime.js';
import type { Device } from '../tensor.js';

/** Whether `device` can capture CUDA graphs ('cuda' and 'cuda-sim' when available). */
export function graphsSupported(device: Device | string): boolean {
  if (device !== 'cuda' && device !== 'cuda-sim') return false;
  return devices().some((d) => d.name === device && d.available);
}

/** The life cycle of a {@link CudaGraph}. */
export type CudaGraphState = 'idle' | 'capturing' | 'ready' | 'failed' | 'destroyed';

/**
 * One CUDA graph on a CUDA device. {@link CudaGraph.capture} runs a function while the device records, instead of
 * running, every kernel launch and device-to-device copy it makes (with the launch arguments of that moment, so
 * scalars are frozen and pointers are baked in); every tensor allocated meanwhile comes from the graph's private
 * memory pool, which stays reserved for as long as the graph or any tensor using it exists.
 * {@link CudaGraph.launch} then replays the recorded work. What the function returns is not computed until the first
 * launch. Work that cannot be captured (reading data back to the host, a synchronous copy) makes the capture fail
 * with HgcError('CUDA'); the graph is then 'failed' and the caller should run the function eagerly.
 */
export class CudaGraph {
  /** The device the graph runs on. */
  readonly device: Device;
  #g: NativeGraph;

  /** A graph on `device` ('cuda' or 'cuda-sim'); HgcError('DEVICE') elsewhere. */
  constructor(device: Device) {
    check(device === 'cuda' || device === 'cuda-sim', 'DEVICE', () => `CUDA graphs need a CUDA device, got '${device}'`);
    this.device = device;
    this.#g = new native.Graph(device);
  }

  /** 'idle' (new), 'capturing', 'ready' (captured), 'failed' (capture impossible) or 'destroyed'. */
  get state(): CudaGraphState {
    return this.#g.state();
  }

  /** Bytes reserved by the graph's private memory pool (0 once disposed). */
  get poolBytes(): number {
    return this.#g.poolBytes();
  }

  /** How many times the graph was launched. */
  get launches(): number {
    return this.#g.launches();
  }

  /**
   * Captures what `fn` launches on the device (it runs once, on the host, but its device work is recorded, not
   * executed) and returns `fn`'s result. Only an idle graph captures (HgcError('ARG') otherwise). If `fn` throws or
   * the capture fails, the graph becomes 'failed' and the error is rethrown (HgcError('CUDA') naming the call that
   * cannot be captured, or `fn`'s own error).
   */
  capture<T>(fn: () => T): T {
    check(typeof fn === 'function', 'ARG', 'CudaGraph.capture: fn must be a function');
    this.#g.begin();
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.#g.abort();
      throw e;
    }
    this.#g.end();
    return result;
  }

  /** Replays the captured work (HgcError('ARG') unless the graph is 'ready'). */
  launch(): void {
    this.#g.launch();
  }

  /** Releases the graph; its private pool goes once no tensor uses its memory. */
  dispose(): void {
    this.#g.destroy();
  }
}
