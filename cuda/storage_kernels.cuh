// Host launchers of cuda/storage_kernels.cu.
#pragma once
#include <cstdint>

#include "hgc/dtype.h"

namespace hgc::cuda {
void fill(void* dst, DType dtype, int64_t n, float value);
void randn(void* dst, DType dtype, int64_t n, uint64_t seed);
void cast(const void* src, DType from, void* dst, DType to, int64_t n);
}  // namespace hgc::cuda
