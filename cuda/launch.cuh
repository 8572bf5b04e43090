// The one way kernels are launched (DESIGN.md seam): launch(kernel, grid, block, shared_bytes, stream, args...)
// checks the launch and turns a failure into hgc::Error(CUDA) naming the kernel. Kernel files never use <<<>>>.
#pragma once
#include <cuda_runtime.h>

#include "hgc/error.h"

namespace hgc::cuda {

inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state so later calls are not blamed for it
    fail(ErrorCode::Cuda, what, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
  }
}

template <typename... KArgs, typename... Args>
void launch(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t shared_bytes,
            cudaStream_t stream, Args... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  kernel<<<grid, block, shared_bytes, stream>>>(args...);
  check_cuda(cudaGetLastError(), name);
}

}  // namespace hgc::cuda
