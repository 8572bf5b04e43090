// Host launcher of cuda/strided_copy.cu (signature of include/hgc/launchers.h).
#pragma once
#include "hgc/op_args.h"

namespace hgc::cuda {
void strided_copy(const StridedCopyArgs& args);
}  // namespace hgc::cuda
