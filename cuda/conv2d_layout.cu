// The operand layouts of the tensor-core convolution (cuda/conv2d.cu): the f32 NCHW input becomes f16 NHWC
// and the f32 [cout, cin, kh, kw] weight becomes f16 [cout, kh, kw, cin], both with the channels
// zero-padded to a multiple of 8 (see conv2d.cuh). One pass each per call; the input pass is a 32×32
// shared-memory transpose (reads along pixels, writes along channels, both coalesced). f32 → f16 rounds
// to nearest even; values beyond ±65504 become ±inf, NaN stays NaN.
#include <cuda_fp16.h>

#include "conv2d.cuh"
#include "kernel_util.cuh"
#include "launch.cuh"

namespace hgc::cuda {
namespace {

constexpr int kTile = 32;
constexpr int kRows = 8;  // threads per tile column: block (32, 8)

// Block (x: 32 pixels, y: 32 channels, z: image).
__global__ void conv2d_pack_input_kernel(const float* x, __half* xh, int64_t cin, int64_t hw, int64_t cp) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t img = blockIdx.z, p0 = int64_t(blockIdx.x) * kTile, c0 = int64_t(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const int64_t c = c0 + j, p = p0 + threadIdx.x;
    tile[j][threadIdx.x] = (c < cin && p < hw) ? x[(img * cin + c) * hw + p] : 0.0f;
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

void conv2d_pack_input(const Conv2dArgs& a, void* xh) {
  const int64_t hw = a.h * a.w, cp = conv2d_padded_channels(a.cin);
  const dim3 grid(unsigned((hw + kTile - 1) / kTile), unsigned((cp + kTile - 1) / kTile), unsigned(a.n));
  launch("conv2d_pack_input", conv2d_pack_input_kernel, grid, dim3(kTile, kRows), 0, nullptr, a.x,
         static_cast<__half*>(xh), a.cin, hw, cp);
}

void conv2d_pack_weight(const Conv2dArgs& a, void* wh) {
  const int64_t cp = conv2d_padded_channels(a.cin), total = a.cout * a.kh * a.kw * cp;
  constexpr int threads = 256;
  launch("conv2d_pack_weight", conv2d_pack_weight_kernel, dim3(grid_stride_blocks(total, threads)), dim3(threads), 0,
         nullptr, a.weight, static_cast<__half*>(wh), a.cin, a.kh, a.kw, cp, total);
}

}  // namespace hgc::cuda
