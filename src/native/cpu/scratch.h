// Aligned scratch memory for kernels. Plain malloc with the alignment done by hand: glibc's memalign path
// (aligned_alloc, aligned operator new) fragments the heap when buffers are allocated and freed per call, and
// the process then grows with every op. Throws std::bad_alloc like operator new.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <new>

namespace hgc::cpu {

inline float* scratch_alloc(size_t floats) {
  const size_t bytes = floats * sizeof(float) + 64 + sizeof(void*);
  void* raw = std::malloc(bytes);
  if (!raw) throw std::bad_alloc();
  uintptr_t aligned = (reinterpret_cast<uintptr_t>(raw) + sizeof(void*) + 63) & ~uintptr_t(63);
  reinterpret_cast<void**>(aligned)[-1] = raw;
  return reinterpret_cast<float*>(aligned);
}

inline void scratch_free(float* p) {
  if (p) std::free(reinterpret_cast<void**>(p)[-1]);
}

}  // namespace hgc::cpu
