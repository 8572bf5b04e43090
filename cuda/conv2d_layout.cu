// The operand layouts of the tensor-core convolution (cuda/conv2d.cu): the f32 NCHW input becomes f16 NHWC
// and the f32 [cout, cin, kh, kw] weight becomes f16 [cout, kh, kw, cin], both with the channels
// zero-padded to a multiple of 8 (see conv2d.cuh). One pass each per call; the input pass is a 32×32
// shared-memory transpose (reads along pixels, writes along channels, both coalesced). f32 → f16 rounds
// to nearest even; values beyond ±65504 become ±inf, NaN stays NaN.
// With GroupNorm (+ SiLU) fused (Conv2dArgs::norm_groups > 0), a stats kernel first computes each
// (image, group)'s moments exactly as the group_norm kernel does (row_ops.cuh), and the input pass
// normalises every value on its way to f16: the normalised tensor is never written to memory.
#include <cuda_fp16.h>

#include "conv2d.cuh"
#include "kernel_util.cuh"
#include "launch.cuh"
#include "row_ops.cuh"

namespace hgc::cuda {
namespace {

constexpr int kTile = 32;
constexpr int kRows = 8;  // threads per tile column: block (32, 8)

constexpr int kStatsThreads = 256;

// One block per (image, group): the group's channels are one contiguous run of per_group·hw values.
__global__ void conv2d_norm_stats_kernel(const float* x, RowMoments* stats, int64_t len, float eps, bool vec) {
  __shared__ float scratch[32];
  const int64_t ng = blockIdx.x;
  const RowMoments m = row_moments(x + ng * len, len, threadIdx.x, blockDim.x, vec, BlockTeam{scratch}, eps);
  if (threadIdx.x == 0) stats[ng] = m;
}

// The optional fused GroupNorm (+ SiLU) of the input pass; stats == nullptr: none.
struct InputNorm {
  const RowMoments* stats;
  const float* gamma;
  const float* beta;
  int64_t groups, per_group;
  bool silu;
};

// Block (x: 32 pixels, y: 32 channels, z: image).
__global__ void conv2d_pack_input_kernel(const float* x, __half* xh, int64_t cin, int64_t hw, int64_t cp, InputNorm nm) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t img = blockIdx.z, p0 = int64_t(blockIdx.x) * kTile, c0 = int64_t(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const int64_t c = c0 + j, p = p0 + threadIdx.x;
    float v = 0.0f;  // padding channels stay 0 (they are not normalised)
    if (c < cin && p < hw) {
      v = x[(img * cin + c) * hw + p];
      if (nm.stats) v = group_norm_value(v, nm.stats[img * nm.groups + c / nm.per_group], nm.gamma, nm.beta, c, nm.silu);
    }
    tile[j][threadIdx.x] = v;
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const int64_t p = p0 + j, c = c0 + threadIdx.x;
    if (p < hw && c < cp) xh[(img * hw + p) * cp + c] = __float2half_rn(tile[threadIdx.x][j]);
  }
}

// One thread per element of wh (grid-stride).
__global__ void conv2d_pack_weight_kernel(const float* w, __half* wh, int64_t cin, int64_t kh, int64_t kw,
                                          int64_t cp, int64_t total) {
  const int64_t k_per_row = kh * kw * cp;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t co = i / k_per_row, r = i - co * k_per_row, tap = r / cp, c = r - tap * cp;
    const int64_t ky = tap / kw, kx = tap - ky * kw;
    wh[i] = __float2half_rn(c < cin ? w[((co * cin + c) * kh + ky) * kw + kx] : 0.0f);
  }
}

}  // namespace

int64_t conv2d_norm_stats_bytes(const Conv2dArgs& a) {
  return a.norm_groups > 0 ? a.n * a.norm_groups * int64_t(sizeof(RowMoments)) : 0;
}

void conv2d_pack_input(const Conv2dArgs& a, void* xh, void* norm_stats) {
  const int64_t hw = a.h * a.w, cp = conv2d_padded_channels(a.cin);
  InputNorm nm{nullptr, a.norm_gamma, a.norm_beta, a.norm_groups, 0, a.norm_silu};
  if (a.norm_groups > 0 && a.n * hw * a.cin > 0) {
    nm.per_group = a.cin / a.norm_groups;
    nm.stats = static_cast<const RowMoments*>(norm_stats);
    const int64_t len = nm.per_group * hw;
    const bool vec = hw % 4 == 0 && aligned_to(a.x, 16);
    launch("conv2d_norm_stats", conv2d_norm_stats_kernel, dim3(unsigned(a.n * a.norm_groups)), dim3(kStatsThreads), 0,
           nullptr, a.x, static_cast<RowMoments*>(norm_stats), len, a.norm_eps, vec);
  }
  const dim3 grid(unsigned((hw + kTile - 1) / kTile), unsigned((cp + kTile - 1) / kTile), unsigned(a.n));
  launch("conv2d_pack_input", conv2d_pack_input_kernel, grid, dim3(kTile, kRows), 0, nullptr, a.x,
         static_cast<__half*>(xh), a.cin, hw, cp, nm);
}

void conv2d_pack_weight(const Conv2dArgs& a, void* wh) {
  const int64_t cp = conv2d_padded_channels(a.cin), total = a.cout * a.kh * a.kw * cp;
  constexpr int threads = 256;
  launch("conv2d_pack_weight", conv2d_pack_weight_kernel, dim3(grid_stride_blocks(total, threads)), dim3(threads), 0,
         nullptr, a.weight, static_cast<__half*>(wh), a.cin, a.kh, a.kw, cp, total);
}

}  // namespace hgc::cuda
