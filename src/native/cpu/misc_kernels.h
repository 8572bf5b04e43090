// Declarations of the CPU launchers other than the GEMM/conv/attention family (kernels.h).
#pragma once
#include <cstdint>

#include "hgc/dtype.h"
#include "hgc/op_args.h"

namespace hgc::cpu {

void fill(void* dst, DType dtype, int64_t n, float value);
void randn(void* dst, DType dtype, int64_t n, uint64_t seed);
void cast(const void* src, DType from, void* dst, DType to, int64_t n);
void strided_copy(const StridedCopyArgs& args);

void group_norm(const GroupNormArgs& args);
void layer_norm(const LayerNormArgs& args);
void softmax(const SoftmaxArgs& args);

void binary(const BinaryArgs& args);
void unary(const UnaryArgs& args);
void geglu(const GegluArgs& args);
void upsample2x(const Upsample2xArgs& args);
void timestep_embedding(const TimestepEmbeddingArgs& args);
double reduce(const ReduceArgs& args);

}  // namespace hgc::cpu
