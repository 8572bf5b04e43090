// The one way kernels are launched (DESIGN.md seam): launch(name, kernel, grid, block, shared_bytes, stream,
// args...) opts the kernel into more than 48 KB of dynamic shared memory when asked (up to 227 KB), launches
// it, and turns a failure into hgc::Error(CUDA) naming the kernel. Kernel files never use <<<>>>.
//
// Dynamic shared memory is declared only through HGC_DYN_SMEM(T, name) inside a kernel body (a `T* name`).
// In the cuda-sim build (HGC_SIM) the same calls run the kernel in the CPU simulator (cuda/sim/).
//
// Streams: launchers pass no stream (nullptr); the work then goes to current_stream(), which is the legacy
// default stream except while this thread captures a CUDA graph (cuda/graph_capture.cuh sets it to the
// capture stream), so that every launch of a captured step is recorded into the graph.
#pragma once
#include <cuda_runtime.h>

#if defined(HGC_SIM)
#include <functional>
#endif

#include "hgc/error.h"

#if defined(HGC_SIM)
#define HGC_DYN_SMEM(T, name) HGC_SIM_DYN_SMEM(T, name)
#else
#define HGC_DYN_SMEM(T, name)                                      \
  extern __shared__ __align__(16) unsigned char hgc_dyn_smem_[]; \
  T* name = reinterpret_cast<T*>(hgc_dyn_smem_)
#endif

#ifndef HGC_CUDA_ARCHS
#define HGC_CUDA_ARCHS "unknown"
#endif

namespace hgc::cuda {

// Shared memory per block: 48 KB without opting in, at most 227 KB with (sm_80 allows 163 KB, sm_90 227 KB).
constexpr size_t kDefaultDynamicSmem = 48 * 1024;
constexpr size_t kMaxDynamicSmem = 227 * 1024;

// The stream of launches and device copies that name none (see the top of this file).
inline thread_local cudaStream_t tls_current_stream = nullptr;
inline cudaStream_t current_stream() { return tls_current_stream; }

inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state so later calls are not blamed for it
    fail(ErrorCode::Cuda, what, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
  }
}

// A failed launch. "No kernel image" (or a PTX too new for the driver) names the architectures this addon
// was compiled for and the device's, which is what the user needs to fix it.
inline void check_launch(cudaError_t err, const char* name) {
  if (err == cudaSuccess) return;
  cudaGetLastError();
#if !defined(HGC_SIM)
  if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction ||
      err == cudaErrorUnsupportedPtxVersion) {
    int dev = 0, major = 0, minor = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    fail(ErrorCode::Cuda, "kernel '", name, "': ", cudaGetErrorName(err), ": this addon has code for CUDA architectures ",
         HGC_CUDA_ARCHS, " but the device is sm_", major, minor, " (rebuild with CMAKE_CUDA_ARCHITECTURES including ",
         major, minor, ")");
  }
#endif
  fail(ErrorCode::Cuda, "kernel '", name, "': ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
}

template <typename... KArgs, typename... Args>
void launch(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t shared_bytes,
            cudaStream_t stream, Args... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  if (shared_bytes > kMaxDynamicSmem)
    fail(ErrorCode::Cuda, "kernel '", name, "': ", shared_bytes, " bytes of dynamic shared memory exceed the ",
         kMaxDynamicSmem, "-byte maximum per block");
  if (shared_bytes > kDefaultDynamicSmem)
    check_launch(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes)), name);
  if (!stream) stream = current_stream();
#if defined(HGC_SIM)
  // A capturing stream records the launch with a by-value copy of its arguments (as a graph node does);
  // otherwise the simulator runs it now.
  const void* key = reinterpret_cast<const void*>(kernel);
  if (::hgc::sim::record_launch(stream, name, key, grid, block, shared_bytes, [=]() { kernel(args...); })) return;
  ::hgc::sim::launch(name, key, grid, block, shared_bytes, ::hgc::sim::KernelBody([&]() { kernel(args...); }));
#else
  kernel<<<grid, block, shared_bytes, stream>>>(args...);
  check_launch(cudaGetLastError(), name);
#endif
}

}  // namespace hgc::cuda
