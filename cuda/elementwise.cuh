// Host launchers of cuda/elementwise.cu (signatures of include/hgc/launchers.h).
#pragma once
#include "hgc/op_args.h"

namespace hgc::cuda {
void binary(const BinaryArgs& args);
void unary(const UnaryArgs& args);
void geglu(const GegluArgs& args);
void upsample2x(const Upsample2xArgs& args);
void timestep_embedding(const TimestepEmbeddingArgs& args);
}  // namespace hgc::cuda
