// Streams, stream capture and graphs in the simulator, with the CUDA runtime's semantics (the subset hgc uses):
// - a capturing stream records kernel launches (with a by-value copy of their arguments), cudaMemcpyAsync and
//   cudaMemsetAsync as graph nodes instead of running them; cudaStreamEndCapture returns the graph;
//   cudaGraphInstantiate copies it into an executable graph; cudaGraphLaunch runs its nodes in order.
// - potentially unsafe calls (cudaMalloc, cudaFree, synchronous copies/memsets, device and event synchronisation)
//   are refused with cudaErrorStreamCaptureUnsupported according to the capture modes (see capture.h), work on the
//   legacy stream during a capture with cudaErrorStreamCaptureImplicit, synchronising or querying a capturing
//   stream with cudaErrorStreamCaptureUnsupported; each of these invalidates the capture concerned, whose
//   cudaStreamEndCapture then fails with cudaErrorStreamCaptureInvalidated and returns no graph.
// Streams execute synchronously (as before); only capture changes when work runs.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "capture.h"
#include "hgc/error.h"
#include "launch.h"

namespace hgc::sim {

namespace {

struct Node {
  enum Kind { Kernel, Memcpy, Memset } kind = Kernel;
  // Kernel
  const char* name = nullptr;
  const void* kernel = nullptr;
  dim3 grid, block;
  size_t smem = 0;
  std::function<void()> body;
  // Memcpy / Memset
  void* dst = nullptr;
  const void* src = nullptr;
  size_t bytes = 0;
  int value = 0;
};

void run_nodes(const std::vector<Node>& nodes) {
  for (const Node& n : nodes) {
    switch (n.kind) {
      case Node::Kernel: launch(n.name, n.kernel, n.grid, n.block, n.smem, KernelBody(n.body)); break;
      case Node::Memcpy: if (n.bytes) std::memmove(n.dst, n.src, n.bytes); break;
      case Node::Memset: if (n.bytes) std::memset(n.dst, n.value, n.bytes); break;
    }
  }
}

}  // namespace

struct SimStream {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id owner;
  std::vector<Node> nodes;
};
struct SimGraph { std::vector<Node> nodes; };
struct SimGraphExec { std::vector<Node> nodes; };

namespace {

// Streams with a capture under way (active or invalidated, until cudaStreamEndCapture).
std::mutex capture_mutex;
std::vector<SimStream*>& capturing() {
  static auto* v = new std::vector<SimStream*>();
  return *v;
}
thread_local cudaStreamCaptureMode thread_mode = cudaStreamCaptureModeGlobal;

void invalidate(SimStream* s) {
  s->status = cudaStreamCaptureStatusInvalidated;
  s->nodes.clear();
}

cudaError_t fail_capture(SimStream* s, cudaError_t e) {
  invalidate(s);
  return detail::record_error(e);
}

// For work on a stream: a null stream is the legacy stream; a stream whose capture failed refuses new work.
cudaError_t stream_state(cudaStream_t stream, bool* capturing_now) {
  *capturing_now = false;
  if (!stream) return detail::check_legacy_stream();
  std::lock_guard<std::mutex> g(capture_mutex);
  if (stream->status == cudaStreamCaptureStatusInvalidated) return detail::record_error(cudaErrorStreamCaptureInvalidated);
  *capturing_now = stream->status == cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

}  // namespace

cudaError_t detail::check_unsafe_call() {
  if (thread_mode == cudaStreamCaptureModeRelaxed) return cudaSuccess;
  std::lock_guard<std::mutex> g(capture_mutex);
  const std::thread::id me = std::this_thread::get_id();
  bool blocked = false;
  for (SimStream* s : capturing()) {
    const bool own = s->owner == me && s->mode != cudaStreamCaptureModeRelaxed;
    const bool global = thread_mode == cudaStreamCaptureModeGlobal && s->mode == cudaStreamCaptureModeGlobal;
    if (own || global) {
      invalidate(s);
      blocked = true;
    }
  }
  return blocked ? cudaErrorStreamCaptureUnsupported : cudaSuccess;
}

cudaError_t detail::check_legacy_stream() {
  std::lock_guard<std::mutex> g(capture_mutex);
  if (capturing().empty()) return cudaSuccess;
  for (SimStream* s : capturing()) invalidate(s);
  return cudaErrorStreamCaptureImplicit;
}

namespace {

// Appends n to the stream's graph when the stream is capturing (*recorded = true); otherwise leaves the work to
// the caller (*recorded = false). A stream whose capture failed answers with that capture's error.
cudaError_t record_node(cudaStream_t stream, Node n, bool* recorded) {
  bool cap = false;
  if (cudaError_t e = stream_state(stream, &cap)) return e;
  *recorded = cap;
  if (cap) {
    std::lock_guard<std::mutex> g(capture_mutex);
    stream->nodes.push_back(std::move(n));
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t detail::record_memcpy(cudaStream_t stream, void* dst, const void* src, size_t bytes, bool* recorded) {
  Node n;
  n.kind = Node::Memcpy;
  n.dst = dst;
  n.src = src;
  n.bytes = bytes;
  return record_node(stream, std::move(n), recorded);
}

cudaError_t detail::record_memset(cudaStream_t stream, void* dst, int value, size_t bytes, bool* recorded) {
  Node n;
  n.kind = Node::Memset;
  n.dst = dst;
  n.value = value;
  n.bytes = bytes;
  return record_node(stream, std::move(n), recorded);
}

bool record_launch(cudaStream_t stream, const char* name, const void* kernel, dim3 grid, dim3 block,
                   size_t dynamic_smem, std::function<void()> body) {
  bool cap = false;
  if (cudaError_t e = stream_state(stream, &cap))
    fail(ErrorCode::Cuda, "kernel '", name, "': ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
  if (!cap) return false;
  try {
    validate_launch(name, kernel, grid, block, dynamic_smem);
  } catch (...) {
    std::lock_guard<std::mutex> g(capture_mutex);
    invalidate(stream);  // a launch that fails during capture leaves the capture unusable, as on a GPU
    throw;
  }
  Node n;
  n.kind = Node::Kernel;
  n.name = name;
  n.kernel = kernel;
  n.grid = grid;
  n.block = block;
  n.smem = dynamic_smem;
  n.body = std::move(body);
  std::lock_guard<std::mutex> g(capture_mutex);
  stream->nodes.push_back(std::move(n));
  return true;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  if (!stream) return detail::record_error(cudaErrorInvalidValue);
  *stream = new SimStream();
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return detail::record_error(cudaErrorInvalidValue);
  {
    std::lock_guard<std::mutex> g(capture_mutex);
    auto& v = capturing();
    v.erase(std::remove(v.begin(), v.end(), stream), v.end());
  }
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!stream) return detail::record_error(detail::check_legacy_stream());
  std::lock_guard<std::mutex> g(capture_mutex);
  if (stream->status != cudaStreamCaptureStatusNone) return fail_capture(stream, cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  if (!stream) return detail::record_error(cudaErrorStreamCaptureUnsupported);  // the legacy stream cannot capture
  if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal && mode != cudaStreamCaptureModeRelaxed)
    return detail::record_error(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> g(capture_mutex);
  if (stream->status != cudaStreamCaptureStatusNone) return detail::record_error(cudaErrorIllegalState);
  stream->status = cudaStreamCaptureStatusActive;
  stream->mode = mode;
  stream->owner = std::this_thread::get_id();
  stream->nodes.clear();
  capturing().push_back(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!stream || !graph) return detail::record_error(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> g(capture_mutex);
  if (stream->status == cudaStreamCaptureStatusNone) return detail::record_error(cudaErrorIllegalState);
  if (stream->mode != cudaStreamCaptureModeRelaxed && stream->owner != std::this_thread::get_id())
    return detail::record_error(cudaErrorStreamCaptureWrongThread);
  auto& v = capturing();
  v.erase(std::remove(v.begin(), v.end(), stream), v.end());
  const bool ok = stream->status == cudaStreamCaptureStatusActive;
  stream->status = cudaStreamCaptureStatusNone;
  *graph = nullptr;
  if (!ok) return detail::record_error(cudaErrorStreamCaptureInvalidated);
  *graph = new SimGraph{std::move(stream->nodes)};
  stream->nodes.clear();
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (!status) return detail::record_error(cudaErrorInvalidValue);
  if (!stream) {  // asking about the legacy stream while a capture is under way is itself an implicit dependency
    if (cudaError_t e = detail::check_legacy_stream()) return detail::record_error(e);
    *status = cudaStreamCaptureStatusNone;
    return cudaSuccess;
  }
  std::lock_guard<std::mutex> g(capture_mutex);
  *status = stream->status;
  return cudaSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode* mode) {
  if (!mode) return detail::record_error(cudaErrorInvalidValue);
  std::swap(*mode, thread_mode);
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!exec || !graph) return detail::record_error(cudaErrorInvalidValue);
  *exec = new SimGraphExec{graph->nodes};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return detail::record_error(cudaErrorInvalidValue);
  bool cap = false;
  if (cudaError_t e = stream_state(stream, &cap)) return detail::record_error(e);
  if (cap) {  // launched into a capture: its nodes become part of the graph being captured
    std::lock_guard<std::mutex> g(capture_mutex);
    stream->nodes.insert(stream->nodes.end(), exec->nodes.begin(), exec->nodes.end());
    return cudaSuccess;
  }
  run_nodes(exec->nodes);  // kernel errors are thrown as Error(CUDA) naming the kernel, like eager launches
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

}  // namespace hgc::sim
