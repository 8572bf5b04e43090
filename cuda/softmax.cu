// Softmax along the last dim of x [rows, cols] (f32), matching src/native/cpu/norm.cc's softmax_row:
// one warp per row for rows up to kWarpRowMax (no barriers: the warps of a block work independently), one
// block per row beyond. Three passes over the row: the max, then e = exp(x − max) written to out and summed,
// then out *= 1/sum; each thread rescales exactly the elements it wrote, so passes 2 and 3 need no barrier.
// Special values exactly as on the CPU: a NaN anywhere makes the whole row NaN; an all −inf row gives zeros
// (the max is taken as 0, every e is 0, the sum 0); a +inf gives NaN at its own place (inf − inf) and 0
// elsewhere (the NaN sum fails `sum > 0`, so the scale is 0).
#include "launch.cuh"
#include "row_ops.cuh"
#include "softmax.cuh"

namespace hgc::cuda {
namespace {

constexpr int64_t kWarpRowMax = 1024;
constexpr int kWarpRowThreads = 128;

template <typename Team>
__device__ __forceinline__ void softmax_row(const float* x, float* out, int64_t cols, int tid, int width, bool vec,
                                            Team team) {
  float mx = -INFINITY, nan = 0.0f;
  for_each_in_row(x, cols, tid, width, vec, [&](float v) {
    mx = fmaxf(mx, v);  // fmaxf skips NaN, like the CPU's x > m scan
    nan = v != v ? 1.0f : nan;
  });
  mx = team.max(mx);
  if (team.max(nan) != 0.0f) {
    map_row(x, out, cols, tid, width, vec, [](float, int64_t) { return NAN; });
    return;
  }
  if (mx == -INFINITY) mx = 0.0f;
  float sum = 0.0f;
  map_row(x, out, cols, tid, width, vec, [&](float v, int64_t) {
    const float e = expf(v - mx);
    sum += e;
    return e;
  });
  sum = team.sum(sum);
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  map_row(out, out, cols, tid, width, vec, [&](float e, int64_t) { return e * inv; });
}

__global__ void softmax_warp_kernel(const float* x, float* out, int64_t rows, int64_t cols, bool vec) {
  const int64_t warps = blockDim.x / 32;
  for (int64_t r = blockIdx.x * warps + prims::warp_id(); r < rows; r += int64_t(gridDim.x) * warps)
    softmax_row(x + r * cols, out + r * cols, cols, prims::lane_id(), 32, vec, WarpTeam{});
}

__global__ void softmax_block_kernel(const float* x, float* out, int64_t rows, int64_t cols, bool vec) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    softmax_row(x + r * cols, out + r * cols, cols, threadIdx.x, blockDim.x, vec, BlockTeam{scratch});
}

}  // namespace

void softmax(const SoftmaxArgs& a) {
  if (a.rows == 0 || a.cols == 0) return;
  const bool vec = a.cols % 4 == 0 && aligned_to(a.x, 16) && aligned_to(a.out, 16);
  if (a.cols <= kWarpRowMax) {
    launch("softmax", softmax_warp_kernel, dim3(grid_stride_blocks(a.rows, kWarpRowThreads / 32, 65535)),
           dim3(kWarpRowThreads), 0, nullptr, a.x, a.out, a.rows, a.cols, vec);
  } else {
    const int threads = a.cols <= 4096 ? 256 : 1024;
    launch("softmax", softmax_block_kernel, dim3(static_cast<unsigned>(a.rows < 65535 ? a.rows : 65535)),
           dim3(threads), 0, nullptr, a.x, a.out, a.rows, a.cols, vec);
  }
}

}  // namespace hgc::cuda
