/**
 * CacheStore: the TypeScript face of the native cache buffer pool. Tensors put in are copied into pool
 * buffers on their device; get() returns a new Tensor sharing the pooled buffer (dispose it when done — the
 * pool keeps its own reference). Meta tensors are tracked by shape only, with the same byte accounting, so
 * policies can be traced on the meta device. A put that does not fit the budget returns false: the caller
 * must then compute instead (never a wrong result).
 */
import { dtypeSize } from '../dtype.js';
import { check } from '../errors.js';
import { type CachePoolStats, type NativeCachePool, native } from '../native.js';
import { Tensor } from '../tensor.js';

export type { CachePoolStats };

interface EntryInfo {
  shape: readonly number[];
  dtype: Tensor['dtype'];
  device: Tensor['device'];
}

interface MetaEntry extends EntryInfo {
  pinned: boolean;
  lastUse: number;
}

/**
 * A keyed store of tensors under a byte budget, backed by the native cache buffer pool (LRU eviction of unpinned
 * entries; meta tensors are tracked by shape with the same accounting). What policies reuse across steps lives here.
 */
export class CacheStore {
  #pool: NativeCachePool;
  #budget: number;
  /** Shape/dtype/device of native entries (the pool stores bytes), so get() can rebuild the Tensor. */
  #info = new Map<string, EntryInfo>();
  #meta = new Map<string, MetaEntry>();
  #metaCounters = { hits: 0, rejected: 0, evictions: 0, peak: 0 };
  #clock = 0;

  /** `budgetBytes`: the most the pool may hold (default: unlimited). */
  constructor(budgetBytes = Number.MAX_SAFE_INTEGER) {
    check(Number.isFinite(budgetBytes) && budgetBytes >= 0, 'ARG', () => `CacheStore: budget must be a byte count >= 0, got ${budgetBytes}`);
    this.#budget = budgetBytes;
    this.#pool = new native.CachePool(Math.min(budgetBytes, 9e15));
  }

  /** Copies `t` into the pool under `key` (replacing an older entry). False when it does not fit. */
  put(key: string, t: Tensor, opts: { pinned?: boolean } = {}): boolean {
    check(typeof key === 'string', 'ARG', 'CacheStore.put: key must be a string');
    if (t.device !== 'meta') {
      this.#meta.delete(key);
      const ok = this.#pool.put(key, t.handle, opts.pinned ?? false);
      if (ok) this.#info.set(key, { shape: t.shape, dtype: t.dtype, device: t.device });
      else this.#info.delete(key);
      return ok;
    }
    this.#meta.delete(key);
    if (this.#pool.has(key)) this.#pool.release(key);
    const bytes = t.size * dtypeSize(t.dtype);
    if (!this.#fitMeta(bytes)) {
      this.#metaCounters.rejected++;
      return false;
    }
    this.#meta.set(key, { shape: t.shape, dtype: t.dtype, device: 'meta', pinned: opts.pinned ?? false, lastUse: ++this.#clock });
    this.#metaCounters.peak = Math.max(this.#metaCounters.peak, this.#metaBytes());
    return true;
  }

  /** A tensor sharing the pooled buffer (the caller disposes it), or undefined on a miss. */
  get(key: string): Tensor | undefined {
    const m = this.#meta.get(key);
    if (m) {
      this.#metaCounters.hits++;
      m.lastUse = ++this.#clock;
      return Tensor.meta(m.shape, m.dtype);
    }
    const h = this.#pool.get(key);
    const info = this.#info.get(key);
    if (!h || !info) {  // a miss (the native pool counts it)
      h?.dispose();
      return undefined;
    }
    return Tensor.fromHandle(h, info.shape, info.dtype, info.device);
  }

  /** Whether an entry is stored under `key` (does not count as a hit or a miss). */
  has(key: string): boolean {
    return this.#meta.has(key) || this.#pool.has(key);
  }

  /**
   * Drops the entry under `key` (its buffer may be kept for reuse by a later put of the same size); false when there
   * was none.
   */
  release(key: string): boolean {
    this.#info.delete(key);
    return this.#meta.delete(key) || this.#pool.release(key);
  }

  /** Releases every entry and every freed buffer. */
  clear(): void {
    this.#meta.clear();
    this.#info.clear();
    this.#pool.clear();
  }

  /**
   * Changes the byte budget; what is held beyond it is dropped (free buffers first, then least recently used unpinned
   * entries) when the next put needs room.
   */
  setBudget(bytes: number): void {
    check(Number.isFinite(bytes) && bytes >= 0, 'ARG', () => `CacheStore: budget must be a byte count >= 0, got ${bytes}`);
    this.#budget = bytes;
    this.#pool.setBudget(Math.min(bytes, 9e15));
  }

  /** Byte accounting and hit/miss/eviction counters, native and meta entries together. */
  stats(): CachePoolStats {
    const s = this.#pool.stats();
    const metaBytes = this.#metaBytes();
    return {
      ...s,
      budget: this.#budget,
      bytesHeld: s.bytesHeld + metaBytes,
      bytesInEntries: s.bytesInEntries + metaBytes,
      peakBytesHeld: Math.max(s.peakBytesHeld, this.#metaCounters.peak),
      entries: s.entries + this.#meta.size,
      hits: s.hits + this.#metaCounters.hits,
      rejected: s.rejected + this.#metaCounters.rejected,
      evictions: s.evictions + this.#metaCounters.evictions,
    };
  }

  /** The keys of every live entry (meta entries first). */
  keys(): string[] {
    return [...this.#meta.keys(), ...this.#pool.keys()];
  }

  #metaBytes(): number {
    let n = 0;
    for (const m of this.#meta.values()) n += m.shape.reduce((a, b) => a * b, 1) * dtypeSize(m.dtype);
    return n;
  }

  #fitMeta(bytes: number): boolean {
    if (bytes > this.#budget) return false;
    while (this.#metaBytes() + bytes > this.#budget) {
      let victim: string | undefined;
      let oldest = Infinity;
      for (const [k, m] of this.#meta) {
        if (!m.pinned && m.lastUse < oldest) {
          oldest = m.lastUse;
          victim = k;
        }
      }
      if (victim === undefined) return false;
      this.#meta.delete(victim);
      this.#metaCounters.evictions++;
    }
    return true;
  }
}
