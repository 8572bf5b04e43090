// Register-tile helpers shared by the tensor-core kernels (GEMM, convolution, attention).
#pragma once
#include <cstdint>

#include "prims.cuh"

// Fully unrolled loops over register tiles: nvcc keeps a fragment array in registers only when every index is
// a constant after unrolling. g++ in the simulator build needs no hint.
#if defined(__CUDACC__) && !defined(HGC_UNROLL)
#define HGC_UNROLL _Pragma("unroll")
#elif !defined(HGC_UNROLL)
#define HGC_UNROLL
#endif

namespace hgc::cuda {

// Zeroes a warp's MI × NI grid of m16n8k16 accumulator fragments.
template <int MI, int NI>
__device__ __forceinline__ void zero_warp_tile(float (&acc)[MI][NI][4]) {
  HGC_UNROLL
  for (int i = 0; i < MI; i++)
    HGC_UNROLL
    for (int j = 0; j < NI; j++)
      HGC_UNROLL
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;
}

// acc[i][j] += A_i · B_j for a warp's MI × NI grid of m16n8k16 tiles (fragments as in prims.cuh), with the
// bf16 or f16 instruction.
template <bool kBf16, int MI, int NI>
__device__ __forceinline__ void mma_warp_tile(float (&acc)[MI][NI][4], const uint32_t (&a)[MI][4], const uint32_t (&b)[NI][2]) {
  HGC_UNROLL
  for (int i = 0; i < MI; i++)
    HGC_UNROLL
    for (int j = 0; j < NI; j++) {
      if (kBf16)
        prims::mma_m16n8k16_bf16(acc[i][j], a[i], b[j], acc[i][j]);
      else
        prims::mma_m16n8k16_f16(acc[i][j], a[i], b[j], acc[i][j]);
    }
}

}  // namespace hgc::cuda
