/** Devices, memory statistics and the CPU thread count. */
import { native } from './native.js';

/** A compute device of this build. */
export interface DeviceInfo {
  /** 'cpu', 'cuda', 'cuda-sim' (the CUDA kernels in the CPU simulator) or 'meta'. */
  name: string;
  /** Whether tensors can be created on it. */
  available: boolean;
  /** Why it is unavailable (e.g. "no CUDA driver: cudaErrorInsufficientDriver"). */
  reason?: string;
  /**
   * The ops this device's backend implements, by launcher name ('gemm', 'conv2d', 'attention', 'group_norm',
   * 'layer_norm', 'binary', 'unary', 'geglu', 'softmax', 'upsample2x', 'timestep_embedding', 'reduce',
   * 'strided_copy', 'fill', 'randn', 'cast'). Other ops on this device throw HgcError('DEVICE'). 'meta'
   * computes shapes only and lists every op.
   */
  ops: string[];
}

/** Every op name a backend can implement (the launcher names of include/hgc/launchers.h). */
const ALL_OPS: readonly string[] = ['gemm', 'conv2d', 'attention', 'group_norm', 'layer_norm', 'binary', 'unary',
  'geglu', 'softmax', 'upsample2x', 'timestep_embedding', 'reduce', 'strided_copy', 'fill', 'randn', 'cast'];

/** The devices compiled into the addon, plus 'meta' (shape-only tensors, always available). */
export function devices(): DeviceInfo[] {
  return [...native.devices(), { name: 'meta', available: true, ops: [...ALL_OPS] }];
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
  /** Bytes reserved by the private pools of live CUDA graphs (not part of bytesInUse or bytesCached). */
  bytesInGraphPools: number;
  /** Live private pools of CUDA graphs (a pool outlives its graph while a tensor still uses its memory). */
  graphPools: number;
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
