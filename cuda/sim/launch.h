// Kernel launch in the simulator: runs `body` (one call = one simulated thread) for every thread of every
// block. Errors (launch configuration, shared memory over the limit, divergent barriers, warp collective
// misuse, exceptions from the body) are thrown as hgc::Error(CUDA) naming the kernel.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include "runtime.h"

namespace hgc::sim {

// A non-owning reference to a callable `void()`; the callable outlives the launch.
class KernelBody {
 public:
  template <typename F>
  explicit KernelBody(const F& f) : obj_(&f), call_([](const void* o) { (*static_cast<const F*>(o))(); }) {}
  void operator()() const { call_(obj_); }

 private:
  const void* obj_;
  void (*call_)(const void*);
};

void launch(const char* name, const void* kernel, dim3 grid, dim3 block, size_t dynamic_smem, const KernelBody& body);

// The launch configuration checks of launch() alone (block and grid sizes, the shared-memory limit).
void validate_launch(const char* name, const void* kernel, dim3 grid, dim3 block, size_t dynamic_smem);

// The stream half of a launch (capture.cc): when `stream` is capturing, checks the configuration and records
// the launch as a graph node (body holds a by-value copy of the arguments) and returns true: nothing runs.
// Returns false when the launch should run now. Throws Error(CUDA) when the stream cannot take work now:
// the legacy stream while a capture is under way (cudaErrorStreamCaptureImplicit, which invalidates that
// capture), or a stream whose capture was invalidated.
bool record_launch(cudaStream_t stream, const char* name, const void* kernel, dim3 grid, dim3 block,
                   size_t dynamic_smem, std::function<void()> body);

// Debug knobs (also read from the environment, see docs/kernels-and-simulator.md):
//   schedule seed: 0 = deterministic order (thread 0 first, round-robin); otherwise a seeded random order of
//   the plain loop and of fiber resumption (HGC_SIM_SEED);
//   threads: OS threads that run blocks in parallel (HGC_SIM_THREADS, default min(4, cores)).
struct Config {
  uint64_t seed = 0;
  int threads = 1;
};
Config config();
void set_config(const Config& c);

}  // namespace hgc::sim
