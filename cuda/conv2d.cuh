// Host launchers of the convolution (cuda/conv2d.cu, cuda/conv2d_layout.cu).
#pragma once
#include <cstdint>

#include "hgc/op_args.h"

namespace hgc::cuda {

void conv2d(const Conv2dArgs& a);
// Bytes of backend memory conv2d needs in Conv2dArgs::scratch (the f16 NHWC input and repacked weights).
int64_t conv2d_scratch_bytes(const Conv2dArgs& a);

// The f16 operand layouts of the implicit GEMM, written into scratch by conv2d_layout.cu:
//   xh [n, h, w, cp]       (NHWC, channels zero-padded to cp = cin rounded up to 8)
//   wh [cout, kh, kw, cp]  (one GEMM row of K = kh·kw·cp per output channel, same channel padding)
// so that 8 consecutive k of either operand are 16 contiguous, 16-byte aligned bytes (one cp.async).
inline int64_t conv2d_padded_channels(int64_t cin) { return (cin + 7) / 8 * 8; }
// With Conv2dArgs::norm_groups > 0 the input pass applies GroupNorm (+ SiLU), using conv2d_norm_stats_bytes(a)
// of scratch for the per-(image, group) moments.
int64_t conv2d_norm_stats_bytes(const Conv2dArgs& a);
void conv2d_pack_input(const Conv2dArgs& a, void* xh, void* norm_stats);
void conv2d_pack_weight(const Conv2dArgs& a, void* wh);

}  // namespace hgc::cuda
