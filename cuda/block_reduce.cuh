// Reductions across a warp or a block, built on the warp primitives of prims.cuh. Every thread gets the
// result, and the summation order is fixed (an xor butterfly, then the warps' partials in warp order), so
// the result does not depend on scheduling: the simulator's random resume order must give identical output.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "prims.cuh"

namespace hgc::cuda {

// Sum / max over the block. blockDim.x must be a multiple of 32 (at most 1024) and every thread must call.
// `scratch` is a __shared__ float[32]. Each warp folds the 32 slots itself, so no broadcast step is needed;
// the trailing barrier lets the caller reuse `scratch` straight away.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  v = prims::warp_sum(v);
  const unsigned lane = prims::lane_id(), warps = blockDim.x / 32;
  if (lane == 0) scratch[prims::warp_id()] = v;
  __syncthreads();
  float t = prims::warp_sum(lane < warps ? scratch[lane] : 0.0f);
  __syncthreads();
  return t;
}

// Max as fmaxf: NaN inputs are ignored (fmaxf(NaN, x) = x), as the CPU kernels' `x > m ? x : m` scans do.
__device__ __forceinline__ float block_max(float v, float* scratch) {
  v = prims::warp_max(v);
  const unsigned lane = prims::lane_id(), warps = blockDim.x / 32;
  if (lane == 0) scratch[prims::warp_id()] = v;
  __syncthreads();
  float t = prims::warp_max(lane < warps ? scratch[lane] : -INFINITY);
  __syncthreads();
  return t;
}

// Sum of a double over the 32 lanes of a warp (all must call). prims has float/int/unsigned shuffles only,
// so the double travels as two 32-bit halves.
__device__ __forceinline__ double warp_sum_f64(double v) {
  for (int m = 16; m > 0; m >>= 1) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    const unsigned lo = prims::shfl_xor(0xffffffffu, unsigned(bits & 0xffffffffu), m);
    const unsigned hi = prims::shfl_xor(0xffffffffu, unsigned(bits >> 32), m);
    const uint64_t other_bits = (uint64_t(hi) << 32) | lo;
    double other;
    memcpy(&other, &other_bits, 8);
    v += other;
  }
  return v;
}

}  // namespace hgc::cuda
