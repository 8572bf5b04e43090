// Similarity reductions of the cuda backend (L1, relative L1, cosine), accumulated in double like the CPU
// (src/native/cpu/elementwise.cc): each thread sums its grid-stride share in double, a warp folds its lanes
// with a fixed xor butterfly, thread 0 of the block adds its warps in order and writes the block's partial
// sums to `scratch` (device memory the entry allocated through the backend allocator). The host copies the
// partials back and adds them in block order. Every step has a fixed order, so the result is the same on
// every run and under any scheduling of the simulator.
#include <cmath>

#include "block_reduce.cuh"
#include "kernel_util.cuh"
#include "launch.cuh"
#include "reduce.cuh"

namespace hgc::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = int(kReduceScratchBytes / (3 * sizeof(double)));

template <ReduceOp OP>
__device__ __forceinline__ void accumulate(double s[3], float fx, float fy) {
  const double x = fx;
  if constexpr (OP == ReduceOp::L1) {
    s[0] += fabs(x);
  } else if constexpr (OP == ReduceOp::RelL1) {
    const double y = fy;
    s[0] += fabs(x - y);
    s[1] += fabs(y);
  } else {
    const double y = fy;
    s[0] += x * y;
    s[1] += x * x;
    s[2] += y * y;
  }
}

template <ReduceOp OP>
__global__ void reduce_kernel(const float* a, const float* b, int64_t n, bool vec, double* partials) {
  __shared__ double warp_sums[3][32];
  double s[3] = {0.0, 0.0, 0.0};
  const bool two = OP != ReduceOp::L1;
  const int64_t start = global_thread(), step = grid_threads();
  int64_t done = 0;
  if (vec) {
    for (int64_t q = start; q < n / 4; q += step) {
      const Float4 x = reinterpret_cast<const Float4*>(a)[q];
      const Float4 y = two ? reinterpret_cast<const Float4*>(b)[q] : x;
      for (int k = 0; k < 4; k++) accumulate<OP>(s, x.v[k], y.v[k]);
    }
    done = n / 4 * 4;
  }
  for (int64_t i = done + start; i < n; i += step) accumulate<OP>(s, a[i], two ? b[i] : 0.0f);
  const unsigned lane = prims::lane_id(), warp = prims::warp_id();
  for (int k = 0; k < 3; k++) {
    const double w = warp_sum_f64(s[k]);
    if (lane == 0) warp_sums[k][warp] = w;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int k = 0; k < 3; k++) {
      double t = 0.0;
      for (unsigned w = 0; w < blockDim.x / 32; w++) t += warp_sums[k][w];
      partials[3 * blockIdx.x + k] = t;
    }
  }
}

template <ReduceOp OP>
void reduce_launch(const ReduceArgs& a, unsigned blocks, bool vec) {
  launch("reduce", reduce_kernel<OP>, dim3(blocks), dim3(kThreads), 0, nullptr, a.a, a.b, a.n, vec,
         static_cast<double*>(a.scratch));
}

}  // namespace

double reduce(const ReduceArgs& a) {
  double t[3] = {0.0, 0.0, 0.0};
  if (a.n > 0) {
    check(a.scratch != nullptr, ErrorCode::Arg, "reduce: the cuda backend needs scratch memory");
    const bool vec = aligned_to(a.a, 16) && (a.b == nullptr || aligned_to(a.b, 16));
    const unsigned blocks = grid_stride_blocks((a.n + 3) / 4, kThreads, kMaxBlocks);
    switch (a.op) {
      case ReduceOp::L1: reduce_launch<ReduceOp::L1>(a, blocks, vec); break;
      case ReduceOp::RelL1: reduce_launch<ReduceOp::RelL1>(a, blocks, vec); break;
      case ReduceOp::Cosine: reduce_launch<ReduceOp::Cosine>(a, blocks, vec); break;
    }
    double partials[3 * kMaxBlocks];
    check_cuda(cudaMemcpy(partials, a.scratch, 3 * sizeof(double) * blocks, cudaMemcpyDeviceToHost), "reduce");
    for (unsigned blk = 0; blk < blocks; blk++)
      for (int k = 0; k < 3; k++) t[k] += partials[3 * blk + k];
  }
  switch (a.op) {
    case ReduceOp::L1: return t[0];
    case ReduceOp::RelL1: return t[0] / t[1];
    case ReduceOp::Cosine: return t[0] / (std::sqrt(t[1]) * std::sqrt(t[2]));
  }
  return 0.0;
}

}  // namespace hgc::cuda
