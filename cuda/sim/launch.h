// Kernel launch in the simulator: runs `body` (one call = one simulated thread) for every thread of every
// block. Errors (launch configuration, shared memory over the limit, divergent barriers, warp collective
// misuse, exceptions from the body) are thrown as hgc::Error(CUDA) naming the kernel.
#pragma once
#include <cstddef>
#include <cstdint>

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
