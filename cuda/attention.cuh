// Host launchers of multi-head attention (include/hgc/op_args.h AttentionArgs semantics):
//   attention       flash-style tensor-core kernel (cuda/attention.cu) for head dims up to kFlashMaxHeadDim,
//                   the SIMT kernel beyond
//   attention_half  the flash kernel on f16/bf16 storage (head dims up to kFlashMaxHeadDim)
//   attention_simt  one block per query row, f32 throughout (cuda/attention_simt.cu)
#pragma once
#include <cstdint>

#include "hgc/op_args.h"

namespace hgc::cuda {
constexpr int64_t kFlashMaxHeadDim = kAttentionHalfMaxHeadDim;

void attention(const AttentionArgs& args);
void attention_half(const AttentionHalfArgs& args);
void attention_simt(const AttentionArgs& args);
}  // namespace hgc::cuda
