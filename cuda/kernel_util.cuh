// Small helpers shared by the element-wise, norm, softmax, layout and reduction kernels: aligned packs for
// vectorised loads/stores, alignment tests and grid sizing for grid-stride loops.
#pragma once
#include <cstdint>

namespace hgc::cuda {

// N values of T moved as one aligned access (a 16-byte Pack<float, 4> compiles to one 128-bit load/store).
// A plain aligned struct rather than float4/uint4, so the same source also builds for the simulator.
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

using Float4 = Pack<float, 4>;
using Float2 = Pack<float, 2>;

inline bool aligned_to(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Blocks for a grid-stride loop over `work` items with `threads` per block: enough to fill the GPU many
// times over, capped so huge tensors reuse threads instead of launching millions of blocks.
inline unsigned grid_stride_blocks(int64_t work, int threads, int64_t cap = 8192) {
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// First index and step of a grid-stride loop (64-bit: tensors may exceed 2^31 elements).
__device__ __forceinline__ int64_t global_thread() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t grid_threads() { return int64_t(gridDim.x) * blockDim.x; }

}  // namespace hgc::cuda
