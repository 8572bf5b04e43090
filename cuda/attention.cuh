// Host launchers of multi-head attention (include/hgc/op_args.h AttentionArgs semantics):
//   attention       flash-style tensor-core kernel (cuda/attention.cu) for head dims up to kFlashMaxHeadDim,
//                   the SIMT kernel beyond
//   attention_simt  one block per query row, f32 throughout (cuda/attention_simt.cu)
#pragma once
#include <cstdint>

#include "hgc/op_args.h"

namespace hgc::cuda {
constexpr int64_t kFlashMaxHeadDim = 256;

void attention(const AttentionArgs& args);
void attention_simt(const AttentionArgs& args);
}  // namespace hgc::cuda
