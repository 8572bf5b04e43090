/**
 * Loads the native addon. `HGC_ADDON` may name another build (the node-gyp build, the sanitizer build);
 * otherwise the cmake-js build in build/Release is used. The addon throws {@link HgcError}s directly.
 */
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { HgcError } from './errors.js';

/** @internal An opaque native tensor. */
export interface NativeHandle {
  dispose(): void;
  readonly disposed: boolean;
}

/** @internal The addon's functions (src/native/addon/). */
export interface NativeAddon {
  setErrorClass(ctor: typeof HgcError): void;
  devices(): { name: string; available: boolean; reason?: string; ops: string[] }[];
  memory(): { liveTensors: number; liveStorages: number; liveBytes: number; pools: Record<string, PoolStatsNative> };
  emptyCache(): void;
  numThreads(): number;
  fromHost(device: string, shape: readonly number[], dtype: string, data: Float32Array | Uint16Array): NativeHandle;
  full(device: string, shape: readonly number[], dtype: string, value: number): NativeHandle;
  randn(device: string, shape: readonly number[], dtype: string, seed: number | bigint): NativeHandle;
  toHost(h: NativeHandle): Float32Array | Uint16Array;
  toDevice(h: NativeHandle, device: string): NativeHandle;
  view(h: NativeHandle, shape: readonly number[]): NativeHandle;
  clone(h: NativeHandle): NativeHandle;
  /** Copies src's bytes into dst (same device, dtype and shape). */
  copyInto(dst: NativeHandle, src: NativeHandle): void;
  cast(h: NativeHandle, dtype: string): NativeHandle;
  permute(h: NativeHandle, dims: readonly number[]): NativeHandle;
  slice(h: NativeHandle, dim: number, start: number, end: number): NativeHandle;
  concat(hs: NativeHandle[], dim: number): NativeHandle;
  matmul(a: NativeHandle, b: NativeHandle, o: object): NativeHandle;
  conv2d(x: NativeHandle, w: NativeHandle, o: object): NativeHandle;
  attention(q: NativeHandle | null, k: NativeHandle | null, v: NativeHandle, o: object): NativeHandle;
  /** Internal: compute-mode attention on column slices of wider f32 matrices (tests of the launchers' row strides). */
  attentionSlices(q: NativeHandle, k: NativeHandle, v: NativeHandle, o: {
    channels: number; heads: number; qOffset?: number; kOffset?: number; vOffset?: number; outOffset?: number;
    outWidth?: number; causal?: boolean;
  }): NativeHandle;
  groupNorm(x: NativeHandle, groups: number, o: object): NativeHandle;
  layerNorm(x: NativeHandle, o: object): NativeHandle;
  softmax(x: NativeHandle): NativeHandle;
  binary(a: NativeHandle, b: NativeHandle, op: string): NativeHandle;
  unary(x: NativeHandle, op: string, alpha: number, beta: number): NativeHandle;
  geglu(x: NativeHandle, tanh: boolean): NativeHandle;
  upsample2x(x: NativeHandle): NativeHandle;
  timestepEmbedding(t: NativeHandle, dim: number, o: object): NativeHandle;
  reduce(a: NativeHandle, b: NativeHandle | null, op: string): number;
  CachePool: new (budgetBytes: number) => NativeCachePool;
  /** A CUDA graph of one device (include/hgc/graph.h). */
  Graph: new (device: string) => NativeGraph;
  /** The CUDA simulator's debug knobs (cuda/sim/launch.h); returns the configuration in force. */
  simConfigure(o?: { seed?: number; threads?: number }): { seed: number; threads: number };
  /** Runs one of the simulator's self-test kernels (cuda/sim/selftest_kernels.cu). */
  simSelfTest(name: string, input?: Float32Array, params?: number[]): Float32Array;
}

/** @internal The native cache buffer pool (include/hgc/cache_pool.h). */
export interface NativeCachePool {
  put(key: string, t: NativeHandle, pinned: boolean): boolean;
  get(key: string): NativeHandle | null;
  has(key: string): boolean;
  release(key: string): boolean;
  clear(): void;
  setBudget(bytes: number): void;
  stats(): CachePoolStats;
  keys(): string[];
}

/** @internal A native CUDA graph (include/hgc/graph.h). */
export interface NativeGraph {
  begin(): void;
  end(): void;
  abort(): void;
  launch(): void;
  destroy(): void;
  state(): 'idle' | 'capturing' | 'ready' | 'failed' | 'destroyed';
  poolBytes(): number;
  launches(): number;
}

/** Statistics of a {@link CacheStore}. */
export interface CachePoolStats {
  /** Byte budget. */
  budget: number;
  /** Bytes held: entries plus freed buffers kept for reuse. */
  bytesHeld: number;
  /** Bytes of the live entries alone. */
  bytesInEntries: number;
  /** Highest bytesHeld since the store was created. */
  peakBytesHeld: number;
  /** Number of live entries. */
  entries: number;
  /** get() calls that found their key. */
  hits: number;
  /** get() calls that did not find their key. */
  misses: number;
  /** Entries dropped to make room. */
  evictions: number;
  /** put() calls refused because they could not fit in the budget. */
  rejected: number;
  /** put() calls served by a freed buffer. */
  bufferReuses: number;
}

/** @internal */
export interface PoolStatsNative {
  bytesInUse: number;
  bytesCached: number;
  peakBytesInUse: number;
  allocations: number;
  cacheHits: number;
  deviceAllocations: number;
  bytesInGraphPools: number;
  graphPools: number;
}

/** The package root: the nearest folder above this file holding hgc's package.json (works from src/ and dist/src/). */
function findPackageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      try {
        if ((JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: string }).name === 'hgc') return dir;
      } catch {
        // not a readable package.json: keep looking upwards
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, '..', '..');
    dir = parent;
  }
}
const packageRoot = findPackageRoot();

function loadAddon(): NativeAddon {
  const requireNative = createRequire(__filename);
  const override = process.env.HGC_ADDON;
  const file = override ? path.resolve(override) : path.join(packageRoot, 'build', 'Release', 'hgc.node');
  let addon: NativeAddon;
  try {
    addon = requireNative(file) as NativeAddon;
  } catch (e) {
    throw new HgcError('IO', `cannot load the hgc native addon from ${file}: ${(e as Error).message} ` +
      '(run `npm install` or `npm run build:native` to build it)');
  }
  addon.setErrorClass(HgcError);
  return addon;
}

/** @internal The loaded addon (loaded on first import). */
export const native: NativeAddon = loadAddon();
