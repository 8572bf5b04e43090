// The convolution algorithms of the CPU backend that conv2d.cc dispatches to besides its GEMM paths.
#pragma once
#include <cstdint>

#include "hgc/op_args.h"

namespace hgc::cpu {

// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions with enough channels to pay for the transforms
// (conv_winograd.cc).
bool winograd_applies(const Conv2dSizes& s);
// Bytes of backend scratch conv3x3_winograd needs in args.scratch (0 when it does not apply).
int64_t winograd_scratch_bytes(const Conv2dSizes& s);
void conv3x3_winograd(const Conv2dArgs& a);

}  // namespace hgc::cpu
