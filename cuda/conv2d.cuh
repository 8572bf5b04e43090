// Host launchers of the convolution (cuda/conv2d.cu, cuda/conv2d_layout.cu).
#pragma once
#include <cstdint>

#include "hgc/op_args.h"

namespace hgc::cuda {

void conv2d(const Conv2dArgs& a);
void conv2d_half(const Conv2dHalfArgs& a);
// Bytes of backend memory the convolution needs in scratch (the 16-bit NHWC input, the repacked weight and,
// with GroupNorm, the per-(image, group) moments).
int64_t conv2d_scratch_bytes(const Conv2dSizes& s);

// The 16-bit operand layouts of the implicit GEMM, written into scratch by conv2d_layout.cu:
//   xs [n, h, w, cp]       (NHWC, channels zero-padded to cp = cin rounded up to 8)
//   ws [cout, kh, kw, cp]  (one GEMM row of K = kh·kw·cp per output channel, same channel padding)
// so that 8 consecutive k of either operand are 16 contiguous, 16-byte aligned bytes (one cp.async).
// Staged as f16, except bf16 for bf16 tensors (so staging is exact for f16 and bf16 tensors).
inline int64_t conv2d_padded_channels(int64_t cin) { return (cin + 7) / 8 * 8; }

// Storage type of the op's tensors.
enum class ConvIo : int { F32 = 0, F16 = 1, BF16 = 2 };

// One convolution call as both launchers see it.
struct ConvCall {
  Conv2dSizes sizes;
  ConvIo io = ConvIo::F32;
  const void* x = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  void* y = nullptr;
  void* scratch = nullptr;
  const float* norm_gamma = nullptr;  // GroupNorm (sizes.norm_groups > 0; f32 tensors only)
  const float* norm_beta = nullptr;
  float norm_eps = 1e-5f;
  bool norm_silu = false;
};

int64_t conv2d_norm_stats_bytes(const Conv2dSizes& s);
// Writes xs (applying GroupNorm (+ SiLU) when sizes.norm_groups > 0, with its moments in norm_stats).
void conv2d_pack_input(const ConvCall& c, void* xs, void* norm_stats);
void conv2d_pack_weight(const ConvCall& c, void* ws);

}  // namespace hgc::cuda
