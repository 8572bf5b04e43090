// Host launcher of cuda/reduce.cu (signature of include/hgc/launchers.h).
#pragma once
#include "hgc/op_args.h"

namespace hgc::cuda {
double reduce(const ReduceArgs& args);
}  // namespace hgc::cuda
