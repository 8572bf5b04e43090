// The cpu backend: 64-byte aligned host memory behind the caching allocator, memcpy copies, and the
// launchers of src/native/cpu/.
#include <cstdlib>
#include <cstring>
#include <new>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "hgc/backend.h"
#include "kernels.h"
#include "misc_kernels.h"

namespace hgc {
namespace {

void* cpu_alloc(size_t bytes) { return std::aligned_alloc(64, (bytes + 63) / 64 * 64); }
void cpu_free(void* p) { std::free(p); }
void cpu_copy(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() {
#if defined(__GLIBC__)
  // Kernels allocate large scratch buffers (GEMM panels) per call. glibc's dynamic mmap threshold would
  // move those onto the heap after the first free; a fixed threshold keeps them on mmap, returned to the
  // system when freed (small scratch comes from scratch.h, which avoids memalign fragmentation).
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
  auto b = std::make_unique<Backend>();
  b->name = "cpu";
  b->available = true;
  b->allocator = std::make_unique<CachingAllocator>("cpu", cpu_alloc, cpu_free);
  b->copy_to_host = cpu_copy;
  b->copy_from_host = cpu_copy;
  b->copy_device = cpu_copy;
  Launchers& l = b->launch;
  l.fill = cpu::fill;
  l.randn = cpu::randn;
  l.cast = cpu::cast;
  l.strided_copy = cpu::strided_copy;
  l.gemm = cpu::gemm;
  l.conv2d = cpu::conv2d;
  l.conv2d_scratch_bytes = cpu::conv2d_scratch_bytes;
  l.attention = cpu::attention;
  l.group_norm = cpu::group_norm;
  l.layer_norm = cpu::layer_norm;
  l.binary = cpu::binary;
  l.unary = cpu::unary;
  l.geglu = cpu::geglu;
  l.softmax = cpu::softmax;
  l.upsample2x = cpu::upsample2x;
  l.timestep_embedding = cpu::timestep_embedding;
  l.reduce = cpu::reduce;
  return b;
}

}  // namespace hgc
