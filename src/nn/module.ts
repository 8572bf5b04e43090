/**
 * Module: a node of a model tree with named children and parameters whose dotted names are exactly the
 * state-dict names of diffusers / transformers (`down_blocks.0.resnets.1.conv1.weight`). Parameters start
 * empty; fill them with {@link Module.loadStateDict}, {@link Module.initRandom} or {@link Module.initMeta}.
 */
import { randn } from '../creation.js';
import type { DType } from '../dtype.js';
import { HgcError, check, shapeStr } from '../errors.js';
import * as ops from '../ops/index.js';
import { macScope } from '../profile/macs.js';
import { type Device, Tensor } from '../tensor.js';

/** A parameter slot: its expected shape and, once loaded, its tensor. */
export interface Parameter {
  /** The shape the module expects; loading a tensor of another shape is reported as mismatched. */
  readonly shape: readonly number[];
  /** The loaded tensor, or null while the parameter is empty. */
  tensor: Tensor | null;
}

/** What {@link Module.loadStateDict} found. */
export interface LoadReport {
  /** Parameters of the module with no tensor in the source. */
  missing: string[];
  /** Source tensors that match no parameter. */
  unexpected: string[];
  /** Parameters whose source tensor has another shape. */
  mismatched: {
    /** The dotted parameter name. */
    name: string;
    /** The shape the module expects. */
    expected: number[];
    /** The source tensor's shape. */
    got: number[];
  }[];
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadOptions {
  /** Throw HgcError('IO') listing every problem unless the report is clean (default true). */
  strict?: boolean;
  /** Cast parameters to this dtype (e.g. f16 on disk → f32 on the CPU). */
  dtype?: DType;
  /** Move parameters to this device (default: where the source tensors are). */
  device?: Device;
}

/** A source of named tensors: a Map, or any object that lists the names and returns the tensor for a name. */
export type TensorSource = ReadonlyMap<string, Tensor> | {
  /** The names of every tensor the source holds. */
  keys(): Iterable<string>;
  /** The tensor called `name`, or undefined if there is none. */
  get(name: string): Tensor | undefined;
};

export abstract class Module {
  readonly #children = new Map<string, Module>();
  readonly #params = new Map<string, Parameter>();

  /** Registers a child under `name` and returns it. */
  protected child<M extends Module>(name: string, module: M): M {
    check(!this.#children.has(name) && !this.#params.has(name), 'ARG', () => `module name '${name}' is used twice`);
    this.#children.set(name, module);
    return module;
  }

  /** Declares a parameter of `shape` under `name`. */
  protected param(name: string, shape: readonly number[]): Parameter {
    check(!this.#children.has(name) && !this.#params.has(name), 'ARG', () => `parameter name '${name}' is used twice`);
    const p: Parameter = { shape: [...shape], tensor: null };
    this.#params.set(name, p);
    return p;
  }

  /** Runs `fn` with this module's name appended to the MAC-counting path. */
  protected scoped<T>(name: string, fn: () => T): T {
    return macScope(name, fn);
  }

  /** The children, by name. */
  get children(): ReadonlyMap<string, Module> {
    return this.#children;
  }

  /** This module and every descendant with its dotted path (this one under `prefix` without a trailing dot). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.#children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Every parameter with its full dotted name. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [n, p] of this.#params) out.push([prefix + n, p]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Number of parameter elements. */
  parameterCount(): number {
    return this.namedParameters().reduce((s, [, p]) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  }

  /**
   * Takes parameters from `source` by name. Reports every missing key, unexpected key and shape mismatch;
   * in strict mode (default) throws HgcError('IO') listing them all, and loads nothing.
   */
  loadStateDict(source: TensorSource, opts: LoadOptions = {}): LoadReport {
    const params = new Map(this.namedParameters());
    const names = new Set(source.keys());
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
    for (const [name, p] of params) {
      if (!names.has(name)) {
        report.missing.push(name);
        continue;
      }
      const t = source.get(name)!;
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        report.mismatched.push({ name, expected: [...p.shape], got: [...t.shape] });
      }
    }
    for (const name of names) if (!params.has(name)) report.unexpected.push(name);
    const clean = report.missing.length === 0 && report.unexpected.length === 0 && report.mismatched.length === 0;
    if ((opts.strict ?? true) && !clean) throw new HgcError('IO', `state dict does not fit the model: ${describe(report)}`);
    for (const [name, p] of params) {
      if (!names.has(name) || report.mismatched.some((m) => m.name === name)) continue;
      let t = source.get(name)!;
      if (opts.device && t.device !== opts.device) t = t.to(opts.device);
      if (opts.dtype && t.dtype !== opts.dtype) {
        const cast = t.cast(opts.dtype);
        if (t !== source.get(name)) t.dispose();
        t = cast;
      } else if (t === source.get(name)) {
        t = t.clone();  // the module owns its parameters; the caller may dispose the source
      }
      p.tensor?.dispose();
      p.tensor = t;
    }
    return report;
  }

  /**
   * Random parameters for benchmarks and tests: weights N(0, 1/fan_in), norm scales 1, biases 0.02·N(0,1).
   * Each parameter's stream is derived from `seed` and its name, so results do not depend on load order.
   */
  initRandom(opts: { seed?: number; dtype?: DType; device?: Device } = {}): this {
    for (const [name, p] of this.namedParameters()) {
      const fanIn = p.shape.length > 1 ? p.shape.slice(1).reduce((a, b) => a * b, 1) : 0;
      const std = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0.02;
      const seed = hashName(name, opts.seed ?? 0);
      const r = randn(p.shape, { seed, device: opts.device ?? 'cpu' });
      const isNormScale = p.shape.length === 1 && /norm\w*\.weight$/.test(name);
      const isBias = p.shape.length === 1 && !isNormScale;
      // norm scales 1 + 0.02·N(0,1); biases 0.02·N(0,1); weights N(0,1)/√fan_in
      let t = ops.scale(r, isNormScale || isBias ? 0.02 : std, isNormScale ? 1 : 0);
      r.dispose();
      if (opts.dtype && opts.dtype !== t.dtype) {
        const c = t.cast(opts.dtype);
        t.dispose();
        t = c;
      }
      p.tensor?.dispose();
      p.tensor = t;
    }
    return this;
  }

  /** Shape-only parameters on the meta device, for tracing and MAC counting at full size. */
  initMeta(dtype: DType = 'f32'): this {
    for (const [, p] of this.namedParameters()) {
      p.tensor?.dispose();
      p.tensor = Tensor.meta(p.shape, dtype);
    }
    return this;
  }

  /** Releases every parameter. */
  dispose(): void {
    for (const [, p] of this.namedParameters()) {
      p.tensor?.dispose();
      p.tensor = null;
    }
  }
}

/** The tensor of a parameter; HgcError('ARG') naming it when not loaded. */
export function weight(p: Parameter, name: string): Tensor {
  if (!p.tensor) throw new HgcError('ARG', `parameter ${name} ${shapeStr(p.shape)} is not loaded (loadStateDict, initRandom or initMeta)`);
  return p.tensor;
}

function describe(r: LoadReport): string {
  const parts: string[] = [];
  const list = (xs: string[]) => xs.slice(0, 20).join(', ') + (xs.length > 20 ? `, … (${xs.length} in all)` : '');
  if (r.missing.length) parts.push(`missing ${r.missing.length}: ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected ${r.unexpected.length}: ${list(r.unexpected)}`);
  if (r.mismatched.length) {
    parts.push(`shape mismatches ${r.mismatched.length}: ${list(r.mismatched.map((m) => `${m.name} expected ${shapeStr(m.expected)} got ${shapeStr(m.got)}`))}`);
  }
  return parts.join('; ');
}

/** FNV-1a of the name mixed with the seed: a per-parameter Philox stream. */
function hashName(name: string, seed: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return (h + (seed % 2 ** 21) * 2 ** 32) % Number.MAX_SAFE_INTEGER;
}
