// Host launchers of cuda/norm.cu (signatures of include/hgc/launchers.h).
#pragma once
#include "hgc/op_args.h"

namespace hgc::cuda {
void group_norm(const GroupNormArgs& args);
void layer_norm(const LayerNormArgs& args);
}  // namespace hgc::cuda
