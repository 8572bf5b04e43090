/** Devices, memory statistics and the CPU thread count. */
import { native } from './native.js';

/** A compute device of this build. */
export interface DeviceInfo {
  /** 'cpu', 'cuda' or 'meta'. */
  name: string;
  /** Whether tensors can be created on it. */
  available: boolean;
  /** Why it is unavailable (e.g. "no CUDA driver: cudaErrorInsufficientDriver"). */
  reason?: string;
}

/** The devices compiled into the addon, plus 'meta' (shape-only tensors, always available). */
export function devices(): DeviceInfo[] {
  return [...native.devices(), { name: 'meta', available: true }];
}

/** Statistics of one device's caching allocator, in bytes and counts. */
export interface PoolStats {
  /** Bytes handed out to live storage (rounded to the allocator's size classes). */
  bytesInUse: number;
  /** Freed bytes kept for reuse. */
  bytesCached: number;
  /** Highest bytesInUse so far. */
  peakBytesInUse: number;
  /** Allocation requests served. */
  allocations: number;
  /** Requests served from the cache. */
  cacheHits: number;
  /** Requests that reached the device allocator. */
  deviceAllocations: number;
}

/** Memory statistics. */
export interface MemoryInfo {
  /** Tensors holding storage (not disposed, not yet garbage-collected). */
  liveTensors: number;
  /** Distinct storages (views share one). */
  liveStorages: number;
  /** Bytes of live storage. */
  liveBytes: number;
  /** Per device. */
  pools: Record<string, PoolStats>;
}

/** Current memory statistics. */
export function memory(): MemoryInfo {
  return native.memory();
}

/** Returns cached (freed) blocks of every device to the system. */
export function emptyCache(): void {
  native.emptyCache();
}

/** Threads used by CPU ops (HGC_NUM_THREADS overrides the core count). */
export function numThreads(): number {
  return native.numThreads();
}
