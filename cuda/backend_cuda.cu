// The cuda backend: probes for a driver and device at load (the runtime is linked statically, so this
// works on machines without NVIDIA software and reports why CUDA is unavailable), device memory behind
// the caching allocator, synchronous copies, and the launchers implemented so far.
// Built twice: by nvcc as `cuda`, and by g++ against the CPU simulator (HGC_SIM, cuda/sim/) as `cuda-sim`,
// whose device is always available. Hook each launcher in once, below.
#include <cuda_runtime.h>

#include <string>

#include "hgc/backend.h"
#include "attention.cuh"
#include "conv2d.cuh"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "launch.cuh"
#include "norm.cuh"
#include "reduce.cuh"
#include "softmax.cuh"
#include "storage_kernels.cuh"
#include "strided_copy.cuh"

namespace hgc {
namespace {

// cudaMalloc/cudaFree are "potentially unsafe" during a stream capture: the allocator calls them in relaxed
// mode, which is safe because a capture's allocations come from its graph's private pool and stay reserved for
// as long as the graph exists (include/hgc/allocator.h).
struct RelaxedCaptureMode {
  cudaStreamCaptureMode saved = cudaStreamCaptureModeRelaxed;
  RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&saved); }
  ~RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&saved); }
};

void* cuda_alloc(size_t bytes) {
  RelaxedCaptureMode relaxed;
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void cuda_free(void* p) {
  RelaxedCaptureMode relaxed;
  cudaFree(p);
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  cuda::check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy to host");
}
void copy_from_host(void* dst, const void* src, size_t bytes) {
  cuda::check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy to device");
}
// On the current stream, so that a capture records it (a memcpy node).
void copy_device(void* dst, const void* src, size_t bytes) {
  cuda::check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda::current_stream()), "device copy");
}

// Graph capture (GraphRuntime in include/hgc/backend.h). One capture stream per backend, created on first use; it
// is a blocking stream, so eager work on the legacy stream and graph launches on it stay ordered. Thread-local
// mode: a potentially unsafe call from this thread (a synchronous copy, a synchronisation) fails the capture.
cudaStream_t capture_stream = nullptr;

void graph_begin() {
  if (!capture_stream) cuda::check_cuda(cudaStreamCreate(&capture_stream), "graph capture stream");
  cuda::check_cuda(cudaStreamBeginCapture(capture_stream, cudaStreamCaptureModeThreadLocal), "begin graph capture");
  cuda::tls_current_stream = capture_stream;
}

void* graph_end() {
  cuda::tls_current_stream = nullptr;
  cudaGraph_t graph = nullptr;
  cuda::check_cuda(cudaStreamEndCapture(capture_stream, &graph), "graph capture");
  cudaGraphExec_t exec = nullptr;
  cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  cuda::check_cuda(err, "graph instantiate");
  return exec;
}

void graph_launch(void* exec) {
  cuda::check_cuda(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec), capture_stream), "graph launch");
}

void graph_destroy(void* exec) { cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec)); }

std::string probe() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice) {
    cudaGetLastError();
    return std::string(err == cudaErrorNoDevice ? "no CUDA device: " : "no CUDA driver: ") + cudaGetErrorName(err);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("CUDA unavailable: ") + cudaGetErrorName(err);
  }
  if (count == 0) return "no CUDA device found";
  return "";
}

}  // namespace

#if defined(HGC_SIM)
#define HGC_BACKEND_NAME "cuda-sim"
std::unique_ptr<Backend> make_cuda_sim_backend() {
#else
#define HGC_BACKEND_NAME "cuda"
std::unique_ptr<Backend> make_cuda_backend() {
#endif
  auto b = std::make_unique<Backend>();
  b->name = HGC_BACKEND_NAME;
  b->reason = probe();
  b->available = b->reason.empty();
  b->allocator = std::make_unique<CachingAllocator>(HGC_BACKEND_NAME, cuda_alloc, cuda_free);
  b->copy_to_host = copy_to_host;
  b->copy_from_host = copy_from_host;
  b->copy_device = copy_device;
  b->graph.begin_capture = graph_begin;
  b->graph.end_capture = graph_end;
  b->graph.launch = graph_launch;
  b->graph.destroy = graph_destroy;
  b->launch.fill = cuda::fill;
  b->launch.randn = cuda::randn;
  b->launch.cast = cuda::cast;
  b->launch.strided_copy = cuda::strided_copy;
  b->launch.attention = cuda::attention;
  b->launch.attention_half = cuda::attention_half;
  b->launch.group_norm = cuda::group_norm;
  b->launch.layer_norm = cuda::layer_norm;
  b->launch.binary = cuda::binary;
  b->launch.unary = cuda::unary;
  b->launch.geglu = cuda::geglu;
  b->launch.softmax = cuda::softmax;
  b->launch.upsample2x = cuda::upsample2x;
  b->launch.timestep_embedding = cuda::timestep_embedding;
  b->launch.reduce = cuda::reduce;
  b->launch.gemm = cuda::gemm;
  b->launch.gemm_half = cuda::gemm_half;
  b->launch.conv2d = cuda::conv2d;
  b->launch.conv2d_half = cuda::conv2d_half;
  b->launch.conv2d_scratch_bytes = cuda::conv2d_scratch_bytes;
  b->launch.conv2d_fuses_group_norm = true;
  return b;
}

}  // namespace hgc
