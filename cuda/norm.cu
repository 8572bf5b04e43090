// Group and layer normalisation of the cuda backend (f32), matching src/native/cpu/norm.cc.
//  - group_norm: x [n, channels, spatial]; each (n, group) is a contiguous run of channels/groups × spatial
//    values, normalised by one block (corrected two-pass moments in f32, row_ops.cuh), then
//    y = (x − mean)·rstd·gamma[c] + beta[c] and optionally SiLU, all in a third pass over the (cache-hot) group.
//    When there are few large groups, each group is split over several blocks (two kernels, below).
//  - layer_norm: each row of x [rows, cols] normalised by one warp (cols ≤ kWarpRowMax, no barriers) or by
//    one block for longer rows.
// A NaN or Inf poisons the mean of its own group/row only, as on the CPU.
#include <algorithm>

#include "launch.cuh"
#include "norm.cuh"
#include "row_ops.cuh"

namespace hgc::cuda {
namespace {

constexpr int64_t kWarpRowMax = 1024;
constexpr int kWarpRowThreads = 128;  // four rows per block

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
      return group_norm_value(v, m, gamma, beta, first_channel + i / spatial, silu_after);
    });
  }
}

// Few large groups (SD at batch 2: 64 groups of 40960 values, fewer blocks than an H100 has SMs) are split
// into chunks of `chunk` values (a multiple of 4), one block each, with block b = group·splits + chunk index.
// The stats kernel writes each chunk's mean and M2 = Σ(x − mean)² to `partials`; the apply kernel merges its
// group's chunks in chunk order (Chan et al.; every block of a group does the same arithmetic, so they
// agree) and normalises its own chunk.
__global__ void group_norm_stats_kernel(const float* x, float* partials, int64_t len, int64_t chunk, int64_t splits,
                                        bool vec) {
  __shared__ float scratch[32];
  const int64_t b = blockIdx.x, ng = b / splits, begin = (b % splits) * chunk;
  const int64_t count = len - begin < chunk ? len - begin : chunk;
  const CentredSums s = row_centred_sums(x + ng * len + begin, count, threadIdx.x, blockDim.x, vec, BlockTeam{scratch});
  if (threadIdx.x == 0) {
    partials[2 * b] = s.m0 + s.d1 / float(count);
    partials[2 * b + 1] = s.d2 - s.d1 * s.d1 / float(count);
  }
}

__global__ void group_norm_apply_kernel(const float* x, const float* gamma, const float* beta, float* y,
                                        const float* partials, int64_t groups, int64_t per_group, int64_t spatial,
                                        int64_t chunk, int64_t splits, float eps, bool silu_after, bool vec) {
  const int64_t len = per_group * spatial;
  const int64_t b = blockIdx.x, ng = b / splits, begin = (b % splits) * chunk;
  const int64_t count = len - begin < chunk ? len - begin : chunk;
  // Merge around the first chunk's mean so that x is centred as (x − shift) − corr, as in row_moments.
  const float* p = partials + 2 * ng * splits;
  const float shift = p[0];
  float corr = 0.0f;
  for (int64_t k = 0; k < splits; k++) corr += float(len - k * chunk < chunk ? len - k * chunk : chunk) * (p[2 * k] - shift);
  corr /= float(len);
  float m2 = 0.0f;
  for (int64_t k = 0; k < splits; k++) {
    const float d = (p[2 * k] - shift) - corr;
    m2 += p[2 * k + 1] + float(len - k * chunk < chunk ? len - k * chunk : chunk) * d * d;
  }
  const RowMoments m{shift, corr, 1.0f / sqrtf(fmaxf(m2 / float(len), 0.0f) + eps)};
  const int64_t first_channel = (ng % groups) * per_group, offset = ng * len + begin;
  map_row(x + offset, y + offset, count, threadIdx.x, blockDim.x, vec, [&](float v, int64_t i) {
    return group_norm_value(v, m, gamma, beta, first_channel + (begin + i) / spatial, silu_after);
  });
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
  const int64_t per_group = a.channels / a.groups, total = a.n * a.groups, len = per_group * a.spatial;
  if (total == 0 || len == 0) return;
  const bool vec = a.spatial % 4 == 0 && aligned_to(a.x, 16) && aligned_to(a.y, 16);
  // Split when there are fewer groups than kTargetBlocks and each chunk still has >= kMinChunk values.
  constexpr int64_t kTargetBlocks = 264, kMinChunk = 2048;
  int64_t splits = 1;
  if (a.scratch && total < kTargetBlocks) {
    splits = std::min({(kTargetBlocks + total - 1) / total, len / kMinChunk, kGroupNormScratchFloats / (2 * total)});
    splits = std::max<int64_t>(splits, 1);
  }
  if (splits > 1) {
    const int64_t chunk = ((len + splits - 1) / splits + 3) / 4 * 4;  // multiple of 4: packs stay aligned
    splits = (len + chunk - 1) / chunk;
    const dim3 grid(static_cast<unsigned>(total * splits)), block(team_threads(chunk));
    launch("group_norm", group_norm_stats_kernel, grid, block, 0, nullptr, a.x, static_cast<float*>(a.scratch), len, chunk,
           splits, vec);
    launch("group_norm", group_norm_apply_kernel, grid, block, 0, nullptr, a.x, a.gamma, a.beta, a.y,
           static_cast<const float*>(a.scratch), a.groups, per_group, a.spatial, chunk, splits, a.eps, a.silu, vec);
    return;
  }
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
