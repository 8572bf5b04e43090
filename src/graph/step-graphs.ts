/**
 * Graphed callables for denoising steps (in the spirit of torch's make_graphed_callables): one CUDA graph per
 * distinct key (a step's plan signature plus the shapes and dtypes of its inputs), replayed with new inputs.
 */
import { check } from '../errors.js';
import { keep, tidy } from '../scope.js';
import type { Device, Tensor } from '../tensor.js';
import { native } from '../native.js';
import { CudaGraph, graphsSupported } from './cuda-graph.js';

/** Options of {@link StepGraphs}. */
export interface StepGraphsOptions {
  /** At most this many graphs (distinct keys); further keys run eagerly (default 8). */
  maxGraphs?: number;
  /**
   * Eager runs of a key before it is captured (default 1). The warm-up builds lazily created state (e.g. the text
   * K/V cache entries of a generation) outside the graph; with 0, state that `fn` creates and keeps beyond the call
   * would live in the graph's private pool and only get its values from the graph's launches.
   */
  warmup?: number;
}

/** A key whose capture failed. */
export interface GraphCaptureFailure {
  /** The full key: the caller's key plus the inputs' dtypes and shapes. */
  key: string;
  /** The error of the capture (e.g. a read-back to the host: cudaErrorStreamCaptureUnsupported). */
  reason: string;
}

/** What {@link StepGraphs} did so far. */
export interface StepGraphStats {
  /** Graphs captured (successfully). */
  captures: number;
  /** Calls served by replaying a graph (the call that captured a graph included). */
  replays: number;
  /** Calls run eagerly: warm-ups, keys over the limit, failed captures, devices without graphs. */
  eager: number;
  /** Keys whose capture failed, with the reason; they run eagerly from then on. */
  failures: GraphCaptureFailure[];
  /** Live graphs. */
  graphs: number;
  /** Bytes reserved by the live graphs' private pools. */
  poolBytes: number;
}

/** The function a step graph captures: static inputs in, outputs out (new tensors; no host read-backs). */
export type GraphedFn = (inputs: readonly Tensor[]) => Tensor[];

interface Entry {
  seen: number;
  graph?: CudaGraph;
  inputs?: Tensor[];
  outputs?: Tensor[];
  failed?: string;
}

/**
 * A set of graphed callables on one device. `run(key, inputs, fn)` returns what `fn(inputs)` returns, as new
 * tensors owned by the caller:
 * - the first `warmup` calls with a key run `fn` eagerly;
 * - the next one copies the inputs into static input tensors owned by the graph, captures `fn(staticInputs)` into a
 *   CUDA graph (its outputs become the graph's static outputs), launches it and returns copies of the outputs;
 * - later calls copy the new inputs into the static inputs (device-to-device), launch the graph and return copies.
 *
 * Everything `fn` reads that changes between calls must be one of `inputs`: the graph freezes kernel scalars and
 * reads the same memory on every launch. Tensors `fn` reads from elsewhere (weights, per-generation constants) must
 * stay alive, unchanged, until {@link StepGraphs.dispose}. A capture that fails (fn reads data back to the host, or
 * makes another call a capture forbids) is reported in the stats and that key runs eagerly from then on, with the
 * same result. On devices without graphs (cpu, meta) every call runs eagerly.
 */
export class StepGraphs {
  /** The device of the graphs. */
  readonly device: Device;
  /** Whether graphs are used at all (a CUDA device is available). */
  readonly enabled: boolean;
  #maxGraphs: number;
  #warmup: number;
  #entries = new Map<string, Entry>();
  #stats = { captures: 0, replays: 0, eager: 0, failures: [] as GraphCaptureFailure[] };
  #disposed = false;

  /** Graphs on `device`; disabled (every call eager) unless it is an available CUDA device. */
  constructor(device: Device, opts: StepGraphsOptions = {}) {
    const maxGraphs = opts.maxGraphs ?? 8, warmup = opts.warmup ?? 1;
    check(Number.isInteger(maxGraphs) && maxGraphs >= 0, 'ARG', () => `StepGraphs: maxGraphs must be an integer >= 0, got ${maxGraphs}`);
    check(Number.isInteger(warmup) && warmup >= 0, 'ARG', () => `StepGraphs: warmup must be an integer >= 0, got ${warmup}`);
    this.device = device;
    this.enabled = graphsSupported(device);
    this.#maxGraphs = maxGraphs;
    this.#warmup = warmup;
  }

  /** Runs `fn(inputs)` through the graph of `key` (see the class comment); returns new tensors owned by the caller. */
  run(key: string, inputs: readonly Tensor[], fn: GraphedFn): Tensor[] {
    check(!this.#disposed, 'DISPOSED', 'StepGraphs: used after dispose()');
    if (!this.enabled) return this.#eager(inputs, fn);
    for (const t of inputs) {
      check(t.device === this.device, 'DEVICE', () => `StepGraphs: input on '${t.device}', graphs on '${this.device}'`);
    }
    const full = `${key}|${inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(';')}`;
    let e = this.#entries.get(full);
    if (!e) {
      e = { seen: 0 };
      this.#entries.set(full, e);
    }
    if (e.graph) return this.#replay(e, inputs);
    if (e.failed !== undefined || e.seen < this.#warmup || this.#graphCount() >= this.#maxGraphs) {
      e.seen++;
      return this.#eager(inputs, fn);
    }
    return this.#capture(full, e, inputs, fn);
  }

  /** Counters and the keys whose capture failed. */
  stats(): StepGraphStats {
    let graphs = 0, poolBytes = 0;
    for (const e of this.#entries.values()) {
      if (!e.graph) continue;
      graphs++;
      poolBytes += e.graph.poolBytes;
    }
    return { ...this.#stats, failures: [...this.#stats.failures], graphs, poolBytes };
  }

  /** Releases every graph, its static tensors and (once no tensor uses it) its private memory pool. */
  dispose(): void {
    for (const e of this.#entries.values()) release(e);
    this.#entries.clear();
    this.#disposed = true;
  }

  #graphCount(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.graph) n++;
    return n;
  }

  #eager(inputs: readonly Tensor[], fn: GraphedFn): Tensor[] {
    this.#stats.eager++;
    return tidy(() => fn(inputs));
  }

  #replay(e: Entry, inputs: readonly Tensor[]): Tensor[] {
    e.inputs!.forEach((s, i) => native.copyInto(s.handle, inputs[i]!.handle));
    e.graph!.launch();
    this.#stats.replays++;
    return e.outputs!.map((o) => o.clone());
  }

  #capture(key: string, e: Entry, inputs: readonly Tensor[], fn: GraphedFn): Tensor[] {
    // The static inputs are ordinary allocations (made before the capture): the graph reads them on every launch.
    e.inputs = inputs.map((t) => keep(t.clone()));
    const graph = new CudaGraph(this.device);
    try {
      const outputs = graph.capture(() => tidy(() => fn(e.inputs!)));
      check(Array.isArray(outputs) && outputs.every((o) => o?.isTensor === true && o.device === this.device), 'ARG',
        'StepGraphs: fn must return an array of tensors on the graph device');
      e.outputs = outputs.map((o) => keep(o));
    } catch (err) {
      graph.dispose();
      release(e);
      e.failed = err instanceof Error ? err.message : String(err);
      this.#stats.failures.push({ key, reason: e.failed });
      return this.#eager(inputs, fn);
    }
    e.graph = graph;
    this.#stats.captures++;
    return this.#replay(e, inputs);
  }
}

function release(e: Entry): void {
  e.graph?.dispose();
  e.graph = undefined;
  e.inputs?.forEach((t) => t.dispose());
  e.outputs?.forEach((t) => t.dispose());
  e.inputs = undefined;
  e.outputs = undefined;
}
