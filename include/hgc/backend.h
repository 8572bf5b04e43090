// A backend is a device's allocator, copies and a table of raw-pointer launchers (DESIGN.md layer 1/2).
// Op entries (src/native/core/ops/) validate tensors and call the launchers; a launcher left null means
// the op is not implemented on that device, which the entry reports as Error(DEVICE).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hgc/allocator.h"
#include "hgc/dtype.h"
#include "hgc/launchers.h"

namespace hgc {

// CUDA graphs of a backend (all null where the backend has none): captures what this thread launches on the
// backend between begin_capture and end_capture into a graph instead of running it (src/native/core/graph.cc).
struct GraphRuntime {
  void (*begin_capture)() = nullptr;  // Error(CUDA) when no capture can start
  // Ends the capture (whatever happened) and returns the instantiated graph; Error(CUDA) when the capture failed.
  void* (*end_capture)() = nullptr;
  void (*launch)(void* exec) = nullptr;
  void (*destroy)(void* exec) = nullptr;
};

struct Backend {
  std::string name;
  bool available = false;
  std::string reason;  // why it is unavailable, empty when available
  std::unique_ptr<CachingAllocator> allocator;

  // Copies of `bytes` bytes. Host pointers are ordinary CPU memory.
  void (*copy_to_host)(void* dst_host, const void* src, size_t bytes) = nullptr;
  void (*copy_from_host)(void* dst, const void* src_host, size_t bytes) = nullptr;
  void (*copy_device)(void* dst, const void* src, size_t bytes) = nullptr;

  Launchers launch;
  GraphRuntime graph;
};

// The backends compiled into this addon, in a fixed order: cpu first.
const std::vector<Backend*>& backends();

// The backend named `name`; Error(DEVICE) when unknown or unavailable (with the reason).
Backend& backend_by_name(const std::string& name);

// Registration hooks implemented by each backend's source: cpu always; cuda from cuda/backend_cuda.cu built
// by nvcc (or an unavailable stub without the toolkit); cuda-sim from the same file built by g++ against the
// CPU simulator (cuda/sim/), always.
std::unique_ptr<Backend> make_cpu_backend();
std::unique_ptr<Backend> make_cuda_backend();
std::unique_ptr<Backend> make_cuda_sim_backend();

// The names of the ops a backend implements (its non-null launchers), e.g. "gemm", "fill".
std::vector<std::string> implemented_ops(const Backend& b);

}  // namespace hgc
