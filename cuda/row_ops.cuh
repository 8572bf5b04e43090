// Loops over one row (or group) of floats shared by a team of threads (one warp or one block), used by the
// norm and softmax kernels. Thread `tid` of a team of `width` visits elements tid, tid+width, ... (or
// 4-element packs when `vec`, i.e. the row length is a multiple of 4 and the row 16-byte aligned), so
// every pass over the row assigns each element to the same thread: a thread may re-read what it wrote in an
// earlier pass without a barrier.
#pragma once
#include <cstdint>

#include "block_reduce.cuh"
#include "kernel_util.cuh"

namespace hgc::cuda {

// A team reduction: a whole warp (no barriers, so warps of one block may work on different rows) or a
// whole block (scratch is a __shared__ float[32]).
struct WarpTeam {
  __device__ __forceinline__ float sum(float v) const { return prims::warp_sum(v); }
  __device__ __forceinline__ float max(float v) const { return prims::warp_max(v); }
};
struct BlockTeam {
  float* scratch;
  __device__ __forceinline__ float sum(float v) const { return block_sum(v, scratch); }
  __device__ __forceinline__ float max(float v) const { return block_max(v, scratch); }
};

// f(x[i]) for this thread's elements.
template <typename F>
__device__ __forceinline__ void for_each_in_row(const float* x, int64_t len, int tid, int width, bool vec, F f) {
  if (vec) {
    for (int64_t q = tid; q < len / 4; q += width) {
      const Float4 v = reinterpret_cast<const Float4*>(x)[q];
      f(v.v[0]), f(v.v[1]), f(v.v[2]), f(v.v[3]);
    }
  } else {
    for (int64_t i = tid; i < len; i += width) f(x[i]);
  }
}

// y[i] = f(x[i], i) for this thread's elements (y may alias x).
template <typename F>
__device__ __forceinline__ void map_row(const float* x, float* y, int64_t len, int tid, int width, bool vec, F f) {
  if (vec) {
    for (int64_t q = tid; q < len / 4; q += width) {
      const Float4 v = reinterpret_cast<const Float4*>(x)[q];
      Float4 r;
      for (int k = 0; k < 4; k++) r.v[k] = f(v.v[k], 4 * q + k);
      reinterpret_cast<Float4*>(y)[q] = r;
    }
  } else {
    for (int64_t i = tid; i < len; i += width) y[i] = f(x[i], i);
  }
}

// Moments of a row: x̂ = centre(x)·rstd. The mean is kept as a shift (a first f32 mean m0) plus a small
// correction c, and x is centred as (x − m0) − c: x − m0 is exact for values near the mean, so no precision
// is lost to rounding the mean to f32 when |mean| ≫ std.
struct RowMoments {
  float shift, corr, rstd;
  __device__ __forceinline__ float centre(float v) const { return (v - shift) - corr; }
};

// Sums of a row for its moments (len > 0), in f32: m0 = Σx/len, then d1 = Σ(x − m0) and d2 = Σ(x − m0)² in
// one more pass. Mean = m0 + d1/len (d1 corrects m0's rounding), M2 = d2 − d1²/len.
struct CentredSums {
  float m0, d1, d2;
};
template <typename Team>
__device__ __forceinline__ CentredSums row_centred_sums(const float* x, int64_t len, int tid, int width, bool vec,
                                                        Team team) {
  float s = 0.0f;
  for_each_in_row(x, len, tid, width, vec, [&](float v) { s += v; });
  const float m0 = team.sum(s) / float(len);
  float d1 = 0.0f, d2 = 0.0f;
  for_each_in_row(x, len, tid, width, vec, [&](float v) {
    const float d = v - m0;
    d1 += d;
    d2 += d * d;
  });
  return CentredSums{m0, team.sum(d1), team.sum(d2)};
}

// Corrected two-pass moments of a row (the CPU computes the same quantities with double folds).
template <typename Team>
__device__ __forceinline__ RowMoments row_moments(const float* x, int64_t len, int tid, int width, bool vec, Team team,
                                                  float eps) {
  const CentredSums s = row_centred_sums(x, len, tid, width, vec, team);
  const float c = s.d1 / float(len);
  const float var = fmaxf(s.d2 / float(len) - c * c, 0.0f);  // (a NaN var becomes 0; m0 stays NaN)
  return RowMoments{s.m0, c, 1.0f / sqrtf(var + eps)};
}

__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

// One GroupNorm output: x̂·gamma[c] + beta[c], then SiLU when asked (norm.cu, and the convolution's fused
// input pass in conv2d_layout.cu).
__device__ __forceinline__ float group_norm_value(float v, const RowMoments& m, const float* gamma, const float* beta,
                                                  int64_t c, bool silu_after) {
  const float a = gamma ? m.rstd * gamma[c] : m.rstd, b = beta ? beta[c] : 0.0f;
  const float r = m.centre(v) * a + b;
  return silu_after ? silu(r) : r;
}

}  // namespace hgc::cuda
