// The CPU backend's one thread pool: a worker per core, shared by every op. parallel_for splits a range
// into chunks that the calling thread and the workers take in turn. A call made while the pool is busy
// (from a worker, or from a second thread) runs inline on its caller, so nested or concurrent use never
// oversubscribes the cores.
#pragma once
#include <cstdint>
#include <functional>

namespace hgc::cpu {

// Number of threads parallel_for uses (workers + caller). HGC_NUM_THREADS overrides the core count.
int num_threads();

// Calls body(begin, end) over disjoint chunks covering [0, n). `grain` is the smallest chunk worth a
// thread; ranges smaller than 2 * grain run inline. Exceptions thrown by body are rethrown on the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

}  // namespace hgc::cpu
