// Storage-level kernels: fill, Philox normals, dtype casts and the strided copy behind permute/slice/concat.
#include <algorithm>
#include <cstring>

#include "hgc/dtype.h"
#include "hgc/philox.h"
#include "misc_kernels.h"
#include "thread_pool.h"

namespace hgc::cpu {
namespace {

constexpr int64_t kElementGrain = 1 << 15;

inline void store(void* dst, DType t, int64_t i, float v) {
  switch (t) {
    case DType::F32: static_cast<float*>(dst)[i] = v; break;
    case DType::F16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(v); break;
    case DType::BF16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v); break;
  }
}

inline float load(const void* src, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(src)[i];
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(src)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
  }
  return 0.0f;
}

}  // namespace

void fill(void* dst, DType dtype, int64_t n, float value) {
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) store(dst, dtype, i, value);
  });
}

void randn(void* dst, DType dtype, int64_t n, uint64_t seed) {
  parallel_for(n, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) store(dst, dtype, i, philox_normal(static_cast<uint64_t>(i), seed));
  });
}

void cast(const void* src, DType from, void* dst, DType to, int64_t n) {
  if (from == to) {
    std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(from));
    return;
  }
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) store(dst, to, i, load(src, from, i));
  });
}

void strided_copy(const StridedCopyArgs& a) {
  // Collapse to an outer loop over all but the last dim; the innermost dim is a memcpy when both sides
  // are contiguous in it, else an element loop.
  int64_t outer = 1;
  for (int d = 0; d + 1 < a.ndim; d++) outer *= a.shape[d];
  int64_t inner = a.ndim > 0 ? a.shape[a.ndim - 1] : 1;
  int64_t s_src = a.ndim > 0 ? a.stride_src[a.ndim - 1] : 1, s_dst = a.ndim > 0 ? a.stride_dst[a.ndim - 1] : 1;
  if (outer == 0 || inner == 0) return;
  const char* src = static_cast<const char*>(a.src);
  char* dst = static_cast<char*>(a.dst);
  const int64_t es = a.elem_size;
  parallel_for(outer, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; o++) {
      int64_t off_src = 0, off_dst = 0, rem = o;
      for (int d = a.ndim - 2; d >= 0; d--) {
        int64_t idx = rem % a.shape[d];
        rem /= a.shape[d];
        off_src += idx * a.stride_src[d];
        off_dst += idx * a.stride_dst[d];
      }
      const char* s = src + off_src * es;
      char* t = dst + off_dst * es;
      if (s_src == 1 && s_dst == 1) {
        std::memcpy(t, s, static_cast<size_t>(inner * es));
      } else if (es == 4) {
        for (int64_t i = 0; i < inner; i++)
          std::memcpy(t + i * s_dst * 4, s + i * s_src * 4, 4);
      } else {
        for (int64_t i = 0; i < inner; i++)
          std::memcpy(t + i * s_dst * es, s + i * s_src * es, static_cast<size_t>(es));
      }
    }
  });
}

}  // namespace hgc::cpu
