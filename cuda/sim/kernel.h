// What a kernel body sees in the simulator: its thread and block coordinates, __syncthreads, shared memory,
// atomics and the device math functions of the contract.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "runtime.h"

namespace hgc::sim {

// The simulated thread running on this OS thread. The block runner rewrites it before every switch into a
// fiber, so a kernel reading threadIdx after a barrier sees its own index again.
// Trivial on purpose (uint3, not dim3): a thread_local without dynamic initialisation needs no TLS init call
// on every access.
struct Current {
  uint3 thread_idx;
  uint3 block_idx;
  uint3 block_dim;
  uint3 grid_dim;
  unsigned char* dyn_smem;
};
inline thread_local Current current;

// Block barrier; `file`/`line` identify the call site, so threads waiting at different barriers are caught.
void syncthreads(const char* file, int line);
void threadfence();

// Atomics on global or shared memory: real atomic instructions, so blocks may run in parallel.
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline float atomicAdd(float* p, float v) {
  float old, desired;
  __atomic_load(p, &old, __ATOMIC_RELAXED);
  do {
    desired = old + v;
  } while (!__atomic_compare_exchange(p, &old, &desired, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return old;
}
inline int atomicMax(int* p, int v) {
  int old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline unsigned atomicMax(unsigned* p, unsigned v) {
  unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

// Device math of the contract, mapped to <cmath> (the fast-math intrinsics are the accurate functions here).
inline float fast_expf(float x) { return ::expf(x); }
inline float fast_logf(float x) { return ::logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / ::sqrtf(x); }
template <typename T>
inline T __ldg(const T* p) { return *p; }

constexpr int warpSize = 32;  // a constant, not a macro: cudaDeviceProp::warpSize must still parse

}  // namespace hgc::sim

using hgc::sim::__fdividef;
using hgc::sim::__ldg;
using hgc::sim::atomicAdd;
using hgc::sim::atomicMax;
using hgc::sim::rsqrtf;
using hgc::sim::warpSize;

// glibc declares (but does not export) __expf/__logf, so these are macros rather than functions.
#define __expf ::hgc::sim::fast_expf
#define __logf ::hgc::sim::fast_logf

// Coordinates of the running simulated thread.
#define threadIdx (::hgc::sim::current.thread_idx)
#define blockIdx (::hgc::sim::current.block_idx)
#define blockDim (::hgc::sim::current.block_dim)
#define gridDim (::hgc::sim::current.grid_dim)

#define __syncthreads() ::hgc::sim::syncthreads(__FILE__, __LINE__)
#define __threadfence() ::hgc::sim::threadfence()
#define __threadfence_block() ::hgc::sim::threadfence()

// Static shared memory: one copy per OS thread (a block never shares its OS thread with another block while
// it runs), kept in the TLS section "hgc_smem" so that the runner can poison it with NaN at each block start.
#define __shared__ static thread_local __attribute__((section("hgc_smem"), aligned(16)))

// Dynamic shared memory of the running block (HGC_DYN_SMEM in cuda/launch.cuh).
#define HGC_SIM_DYN_SMEM(T, name) T* name = reinterpret_cast<T*>(::hgc::sim::current.dyn_smem)
