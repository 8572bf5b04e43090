/**
 * MAC counting. Ops report multiply-accumulates to the active counter, tagged with the current module path
 * (see {@link macScope}) and any tags set on the counter (step, CFG branch, ...). Two conventions
 * (../shared/reference/hgc.md): 'modules' counts convolutions, linear layers and norms — the convention of
 * DeepCache, T-GATE and the HGC paper; 'all' also counts the attention products and other matmuls.
 * Counting rules (thop's): conv = out·(Cin·kh·kw + bias?1:0); linear = out·in; norm = 2·numel.
 */
import { HgcError } from '../errors.js';


/** What kind of computation a record is. */
export type MacCategory = 'conv' | 'linear' | 'norm' | 'attention' | 'matmul';

/** Which categories a total includes. */
export type MacConvention = 'modules' | 'all';

/** One op's count. */
export interface MacRecord {
  /** The op that reported it (e.g. 'conv2d', 'linear', 'attention'). */
  op: string;
  /** Kind of computation; decides which totals include it. */
  category: MacCategory;
  /** Multiply-accumulates of this op call. */
  macs: number;
  /** Module path at the time ('' outside any scope). */
  path: string;
  /** A copy of the counter's tags when the op ran (e.g. { step, phase }). */
  tags: Readonly<Record<string, string | number>>;
}

const MODULE_CATEGORIES: ReadonlySet<MacCategory> = new Set(['conv', 'linear', 'norm']);

/** Collects {@link MacRecord}s while active. */
export class MacCounter {
  /** Every record made while the counter was active, in order. */
  readonly records: MacRecord[] = [];
  /** Tags attached to every following record. */
  tags: Record<string, string | number> = {};

  /** Total under a convention. */
  total(convention: MacConvention = 'modules'): number {
    let sum = 0;
    for (const r of this.records) if (convention === 'all' || MODULE_CATEGORIES.has(r.category)) sum += r.macs;
    return sum;
  }

  /** Totals grouped by a key of each record (e.g. r => r.path.split('.')[0]). */
  groupBy(key: (r: MacRecord) => string, convention: MacConvention = 'modules'): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.records) {
      if (convention !== 'all' && !MODULE_CATEGORIES.has(r.category)) continue;
      const k = key(r);
      out.set(k, (out.get(k) ?? 0) + r.macs);
    }
    return out;
  }
}

const counters: MacCounter[] = [];
const pathStack: string[] = [];

/** Runs `fn` with `counter` active (counters nest; every active counter receives each record). */
export function countMacs<T>(fn: () => T, counter: MacCounter = new MacCounter()): {
  /** What `fn` returned. */
  result: T;
  /** The counter, holding the records of every op `fn` ran. */
  counter: MacCounter;
} {
  if (typeof fn !== 'function') throw new HgcError('ARG', 'countMacs: first argument must be a function');
  if (!(counter instanceof MacCounter)) throw new HgcError('ARG', 'countMacs: counter must be a MacCounter');
  counters.push(counter);
  try {
    return { result: fn(), counter };
  } finally {
    counters.pop();
  }
}

/** Runs `fn` with `name` appended to the module path of records made inside it. */
export function macScope<T>(name: string, fn: () => T): T {
  if (typeof name !== 'string' || typeof fn !== 'function') throw new HgcError('ARG', 'macScope: needs a name and a function');
  pathStack.push(name);
  try {
    return fn();
  } finally {
    pathStack.pop();
  }
}

/** @internal Whether any MAC counter is active (inside {@link countMacs}). */
export function countingMacs(): boolean {
  return counters.length > 0;
}

/** @internal Reports `macs` of an op to the active counters. */
export function recordMacs(op: string, category: MacCategory, macs: number): void {
  if (counters.length === 0 || macs === 0) return;
  const path = pathStack.join('.');
  for (const c of counters) c.records.push({ op, category, macs, path, tags: { ...c.tags } });
}
