// The operand layouts of the tensor-core convolution (cuda/conv2d.cu): the NCHW input becomes 16-bit NHWC
// and the [cout, cin, kh, kw] weight becomes 16-bit [cout, kh, kw, cin], both with the channels zero-padded
// to a multiple of 8 (see conv2d.cuh). One pass each per call; the input pass is a 32×32 shared-memory
// transpose (reads along pixels, writes along channels, both coalesced). Tensors are read as f32, f16 or
// bf16 and staged as f16 (bf16 for bf16 tensors): f32 → f16 rounds to nearest even, values beyond ±65504
// become ±inf, NaN stays NaN; f16 and bf16 tensors are staged exactly.
// With GroupNorm (+ SiLU) fused (Conv2dArgs::norm_groups > 0), a stats kernel first computes each
// (image, group)'s moments exactly as the group_norm kernel does (row_ops.cuh), and the input pass
// normalises every value on its way to f16: the normalised tensor is never written to memory.
#include <cuda_bf16.h>
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

// Element i of a tensor stored as `io`, and a staged 16-bit value (f16, or bf16 when `bf16`).
__device__ __forceinline__ float load_io(const void* p, int io, int64_t i) {
  if (io == int(ConvIo::F32)) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  if (io == int(ConvIo::BF16)) return __uint_as_float(uint32_t(h) << 16);
  return __half2float(__ushort_as_half(h));
}
__device__ __forceinline__ uint16_t stage_bits(float v, bool bf16) {
  if (!bf16) return __half_as_ushort(__float2half_rn(v));
  return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

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
__global__ void conv2d_pack_input_kernel(const void* x, int io, uint16_t* xs, int64_t cin, int64_t hw, int64_t cp,
                                         InputNorm nm) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t img = blockIdx.z, p0 = int64_t(blockIdx.x) * kTile, c0 = int64_t(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const int64_t c = c0 + j, p = p0 + threadIdx.x;
    float v = 0.0f;  // padding channels stay 0 (they are not normalised)
    if (c < cin && p < hw) {
      v = load_io(x, io, (img * cin + c) * hw + p);
      if (nm.stats) v = group_norm_value(v, nm.stats[img * nm.groups + c / nm.per_group], nm.gamma, nm.beta, c, nm.silu);
    }
    tile[j][threadIdx.x] = v;
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const int64_t p = p0 + j, c = c0 + threadIdx.x;
    if (p < hw && c < cp) xs[(img * hw + p) * cp + c] = stage_bits(tile[threadIdx.x][j], io == int(ConvIo::BF16));
  }
}

// One thread per element of ws (grid-stride).
__global__ void conv2d_pack_weight_kernel(const void* w, int io, uint16_t* ws, int64_t cin, int64_t kh, int64_t kw,
                                          int64_t cp, int64_t total) {
  const int64_t k_per_row = kh * kw * cp;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t co = i / k_per_row, r = i - co * k_per_row, tap = r / cp, c = r - tap * cp;
    const int64_t ky = tap / kw, kx = tap - ky * kw;
    ws[i] = stage_bits(c < cin ? load_io(w, io, ((co * cin + c) * kh + ky) * kw + kx) : 0.0f, io == int(ConvIo::BF16));
  }
}

}  // namespace

int64_t conv2d_norm_stats_bytes(const Conv2dSizes& s) {
  return s.norm_groups > 0 ? s.n * s.norm_groups * int64_t(sizeof(RowMoments)) : 0;
}

void conv2d_pack_input(const ConvCall& c, void* xs, void* norm_stats) {
  const Conv2dSizes& a = c.sizes;
  const int64_t hw = a.h * a.w, cp = conv2d_padded_channels(a.cin);
  InputNorm nm{nullptr, c.norm_gamma, c.norm_beta, a.norm_groups, 0, c.norm_silu};
  if (a.norm_groups > 0 && a.n * hw * a.cin > 0) {  // f32 input only (the entry sees to it)
    nm.per_group = a.cin / a.norm_groups;
    nm.stats = static_cast<const RowMoments*>(norm_stats);
    const float* x = static_cast<const float*>(c.x);
    const bool vec = hw % 4 == 0 && aligned_to(x, 16);
    launch("conv2d_norm_stats", conv2d_norm_stats_kernel, dim3(unsigned(a.n * a.norm_groups)), dim3(kStatsThreads), 0,
           nullptr, x, static_cast<RowMoments*>(norm_stats), nm.per_group * hw, c.norm_eps, vec);
  }
  const dim3 grid(unsigned((hw + kTile - 1) / kTile), unsigned((cp + kTile - 1) / kTile), unsigned(a.n));
  launch("conv2d_pack_input", conv2d_pack_input_kernel, grid, dim3(kTile, kRows), 0, nullptr, c.x, int(c.io),
         static_cast<uint16_t*>(xs), a.cin, hw, cp, nm);
}

void conv2d_pack_weight(const ConvCall& c, void* ws) {
  const Conv2dSizes& a = c.sizes;
  const int64_t cp = conv2d_padded_channels(a.cin), total = a.cout * a.kh * a.kw * cp;
  constexpr int threads = 256;
  launch("conv2d_pack_weight", conv2d_pack_weight_kernel, dim3(grid_stride_blocks(total, threads)), dim3(threads), 0,
         nullptr, c.weight, int(c.io), static_cast<uint16_t*>(ws), a.cin, a.kh, a.kw, cp, total);
}

}  // namespace hgc::cuda
