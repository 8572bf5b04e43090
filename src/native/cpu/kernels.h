// Raw-pointer CPU kernels (layer 1 of DESIGN.md): f32 data, contiguous row-major unless strides say
// otherwise, no tensor types. Validation happens in the op entries (src/native/core/ops/); kernels trust
// their arguments. Each family lives in its own file (gemm.cc, conv2d.cc, attention.cc, ...).
#pragma once
#include <cstdint>

#include "hgc/op_args.h"

namespace hgc::cpu {

// The argument structs are shared by every backend (include/hgc/op_args.h).
using hgc::Activation;
using hgc::AttentionArgs;
using hgc::AttentionMode;
using hgc::Conv2dArgs;
using hgc::Conv2dSizes;
using hgc::GemmArgs;

void gemm(const GemmArgs& args);
void conv2d(const Conv2dArgs& args);
// Backend scratch conv2d wants in args.scratch for these sizes (its Winograd path), 0 for none.
int64_t conv2d_scratch_bytes(const Conv2dSizes& sizes);
void attention(const AttentionArgs& args);

}  // namespace hgc::cpu
