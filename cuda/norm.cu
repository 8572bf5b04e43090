// Group and layer normalisation of the cuda backend (f32), matching src/native/cpu/norm.cc.
//  - group_norm: x [n, channels, spatial]; each (n, group) is a contiguous run of channels/groups × spatial
//    values, normalised by one block (corrected two-pass moments in f32, row_ops.cuh), then
//    y = (x − mean)·rstd·gamma[c] + beta[c] and optionally SiLU, all in a third pass over the (cache-hot) group.
//  - layer_norm: each row of x [rows, cols] normalised by one warp (cols ≤ kWarpRowMax, no barriers) or by
//    one block for longer rows.
// A NaN or Inf poisons the mean of its own group/row only, as on the CPU.
#include "launch.cuh"
#include "norm.cuh"
#include "row_ops.cuh"

namespace hgc::cuda {
namespace {

constexpr int64_t kWarpRowMax = 1024;
constexpr int kWarpRowThreads = 128;  // four rows per block

__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

__global__ void group_norm_kernel(const float* x, const float* gamma, const float* beta, float* y, int64_t groups_total,
                                  int64_t groups, int64_t per_group, int64_t spatial, float eps, bool silu_after,
                                  bool vec) {
  __shared__ float scratch[32];
  const BlockTeam team{scratch};
  const int64_t len = per_group * spatial;
  for (int64_t ng = blockIdx.x; ng < groups_total; ng += gridDim.x) {  // uniform across the block
    const int64_t first_channel = (ng % groups) * per_group;
    const float* xg = x + ng * len;
    const RowMoments m = row_moments(xg, len, threadIdx.x, blockDim.x, vec, team, eps);
    // With vec, spatial % 4 == 0, so a pack never straddles two channels.
    map_row(xg, y + ng * len, len, threadIdx.x, blockDim.x, vec, [&](float v, int64_t i) {
      const int64_t c = first_channel + i / spatial;
      const float a = gamma ? m.rstd * gamma[c] : m.rstd, b = beta ? beta[c] : 0.0f;
      const float r = m.centre(v) * a + b;
      return silu_after ? silu(r) : r;
    });
  }
}

template <typename Team>
__device__ __forceinline__ void layer_norm_row(const float* x, const float* gamma, const float* beta, float* y,
                                               int64_t cols, int tid, int width, bool vec, float eps, Team team) {
  const RowMoments m = row_moments(x, cols, tid, width, vec, team, eps);
  map_row(x, y, cols, tid, width, vec, [&](float v, int64_t i) {
    float r = m.centre(v) * m.rstd;
    if (gamma) r *= gamma[i];
    if (beta) r += beta[i];
    return r;
  });
}

__global__ void layer_norm_warp_kernel(const float* x, const float* gamma, const float* beta, float* y, int64_t rows,
                                       int64_t cols, float eps, bool vec) {
  const int64_t warps = blockDim.x / 32;
  // Each warp owns whole rows; a warp whose rows are done leaves (no block barrier in this kernel).
  for (int64_t r = blockIdx.x * warps + prims::warp_id(); r < rows; r += int64_t(gridDim.x) * warps)
    layer_norm_row(x + r * cols, gamma, beta, y + r * cols, cols, prims::lane_id(), 32, vec, eps, WarpTeam{});
}

__global__ void layer_norm_block_kernel(const float* x, const float* gamma, const float* beta, float* y, int64_t rows,
                                        int64_t cols, float eps, bool vec) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    layer_norm_row(x + r * cols, gamma, beta, y + r * cols, cols, threadIdx.x, blockDim.x, vec, eps, BlockTeam{scratch});
}

// Threads per block for a run of `len` values: enough to keep each thread's share short, fewer for small
// runs (the simulator's cost grows with the block size too).
int team_threads(int64_t len) { return len <= 4096 ? 128 : len <= 65536 ? 512 : 1024; }

}  // namespace

void group_norm(const GroupNormArgs& a) {
  const int64_t per_group = a.channels / a.groups, total = a.n * a.groups;
  if (total == 0 || per_group * a.spatial == 0) return;
  const bool vec = a.spatial % 4 == 0 && aligned_to(a.x, 16) && aligned_to(a.y, 16);
  const unsigned blocks = static_cast<unsigned>(total < 65535 ? total : 65535);
  launch("group_norm", group_norm_kernel, dim3(blocks), dim3(team_threads(per_group * a.spatial)), 0, nullptr, a.x,
         a.gamma, a.beta, a.y, total, a.groups, per_group, a.spatial, a.eps, a.silu, vec);
}

void layer_norm(const LayerNormArgs& a) {
  if (a.rows == 0 || a.cols == 0) return;
  const bool vec = a.cols % 4 == 0 && aligned_to(a.x, 16) && aligned_to(a.y, 16);
  if (a.cols <= kWarpRowMax) {
    const int64_t per_block = kWarpRowThreads / 32;
    launch("layer_norm", layer_norm_warp_kernel, dim3(grid_stride_blocks(a.rows, int(per_block), 65535)),
           dim3(kWarpRowThreads), 0, nullptr, a.x, a.gamma, a.beta, a.y, a.rows, a.cols, a.eps, vec);
  } else {
    launch("layer_norm", layer_norm_block_kernel, dim3(static_cast<unsigned>(a.rows < 65535 ? a.rows : 65535)),
           dim3(team_threads(a.cols)), 0, nullptr, a.x, a.gamma, a.beta, a.y, a.rows, a.cols, a.eps, vec);
  }
}

}  // namespace hgc::cuda
