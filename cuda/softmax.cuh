// Host launcher of cuda/softmax.cu (signature of include/hgc/launchers.h).
#pragma once
#include "hgc/op_args.h"

namespace hgc::cuda {
void softmax(const SoftmaxArgs& args);
}  // namespace hgc::cuda
