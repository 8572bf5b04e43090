// Normalisations and softmax. Statistics are accumulated in float over short runs and then in double,
// so million-element groups keep full precision while the inner loops stay vectorisable.
#include <algorithm>
#include <cmath>

#include "misc_kernels.h"
#include "simd.h"
#include "thread_pool.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(HGC_GEMM_PORTABLE_ONLY)
#define HGC_NORM_X86 1
#include <immintrin.h>
#define HGC_NORM_AVX2 __attribute__((target("avx2,fma")))
#else
#define HGC_NORM_X86 0
#endif

namespace hgc::cpu {
namespace {

constexpr int64_t kRun = 512;  // float accumulation run before folding into double

// Mean and sum of squared deviations (M2) of a sequence, built from blocks of kRun elements: each block is
// read twice while it sits in L1 (its sum, then Σ(x − block mean)² in float around that mean), and the
// blocks are merged in double with Chan et al.'s pairwise update. So the data comes from memory once, no
// large sums cancel, and the inner loops are short float loops that vectorise.
struct Moments {
  double n = 0, mean = 0, m2 = 0;
  // Adds a block of nb elements whose exact-ish sum is `sum` and whose Σ(x − c)² around c is `sq`.
  void add_block(double nb, double sum, float c, double sq) {
    const double mb = sum / nb, dc = mb - double(c);
    const double m2b = std::max(0.0, sq - nb * dc * dc);
    const double tot = n + nb, d = mb - mean;
    mean += d * (nb / tot);
    m2 += m2b + d * d * (n * nb / tot);
    n = tot;
  }
};

HGC_CLONES double blocked_sum(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t start = 0; start < n; start += kRun) {
    int64_t len = std::min(kRun, n - start);
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // eight partial sums so the loop vectorises
    int64_t i = 0;
    for (; i + 8 <= len; i += 8)
      for (int j = 0; j < 8; j++) lanes[j] += x[start + i + j];
    for (; i < len; i++) lanes[0] += x[start + i];
    for (int j = 0; j < 8; j++) sum += lanes[j];
  }
  return sum;
}

// Second pass for precision: Σ(x − mean)² in the same blocked way.
HGC_CLONES double centred_squares(const float* x, int64_t n, float mean) {
  double sq = 0.0;
  for (int64_t start = 0; start < n; start += kRun) {
    int64_t len = std::min(kRun, n - start);
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= len; i += 8)
      for (int j = 0; j < 8; j++) {
        float d = x[start + i + j] - mean;
        lanes[j] += d * d;
      }
    for (; i < len; i++) {
      float d = x[start + i] - mean;
      lanes[0] += d * d;
    }
    for (int j = 0; j < 8; j++) sq += lanes[j];
  }
  return sq;
}

void moments_generic(const float* x, int64_t n, Moments& m) {
  for (int64_t start = 0; start < n; start += kRun) {
    const int64_t len = std::min(kRun, n - start);
    const double sum = blocked_sum(x + start, len);
    const float c = float(sum / double(len));
    m.add_block(double(len), sum, c, centred_squares(x + start, len, c));
  }
}

// y = (x − mean)·a + b, then SiLU if asked. Centring first keeps full precision when |mean| ≫ std.
HGC_CLONES void scale_shift(const float* x, float* y, int64_t n, float mean, float a, float b, bool silu) {
  if (silu) {
    for (int64_t i = 0; i < n; i++) {
      float v = (x[i] - mean) * a + b;
      y[i] = v / (1.0f + exp_fast(-v));
    }
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * a + b;
  }
}

#if HGC_NORM_X86
HGC_NORM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

HGC_NORM_AVX2 void moments_avx2(const float* x, int64_t n, Moments& m) {
  for (int64_t start = 0; start < n; start += kRun) {
    const int64_t len = std::min(kRun, n - start);
    const float* p = x + start;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= len; i += 32) {
      s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + i));
      s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + i + 8));
      s2 = _mm256_add_ps(s2, _mm256_loadu_ps(p + i + 16));
      s3 = _mm256_add_ps(s3, _mm256_loadu_ps(p + i + 24));
    }
    for (; i + 8 <= len; i += 8) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p + i));
    float tail = 0.0f;
    for (int64_t j = i; j < len; j++) tail += p[j];
    const double sum = double(hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)))) + double(tail);
    const float c = float(sum / double(len));
    const __m256 cv = _mm256_set1_ps(c);
    __m256 q0 = _mm256_setzero_ps(), q1 = _mm256_setzero_ps(), q2 = _mm256_setzero_ps(), q3 = _mm256_setzero_ps();
    i = 0;
    for (; i + 32 <= len; i += 32) {
      __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(p + i), cv), d1 = _mm256_sub_ps(_mm256_loadu_ps(p + i + 8), cv);
      __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(p + i + 16), cv), d3 = _mm256_sub_ps(_mm256_loadu_ps(p + i + 24), cv);
      q0 = _mm256_fmadd_ps(d0, d0, q0);
      q1 = _mm256_fmadd_ps(d1, d1, q1);
      q2 = _mm256_fmadd_ps(d2, d2, q2);
      q3 = _mm256_fmadd_ps(d3, d3, q3);
    }
    for (; i + 8 <= len; i += 8) {
      __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(p + i), cv);
      q0 = _mm256_fmadd_ps(d0, d0, q0);
    }
    float qt = 0.0f;
    for (int64_t j = i; j < len; j++) qt += (p[j] - c) * (p[j] - c);
    const double sq = double(hsum(_mm256_add_ps(_mm256_add_ps(q0, q1), _mm256_add_ps(q2, q3)))) + double(qt);
    m.add_block(double(len), sum, c, sq);
  }
}

// v / (1 + exp(−v)) for 8 lanes. exp(−v) as in exp_fast, with −v clamped to [−87.3, 88]: 2^k is then one
// normal float (k ∈ [−126, 127]). Beyond the clamp the true result is within 1e-36 of what this gives;
// NaN propagates through v.
HGC_NORM_AVX2 inline __m256 silu8(__m256 v) {
  __m256 t = _mm256_sub_ps(_mm256_setzero_ps(), v);
  t = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.3365478515625f), t));
  const __m256 kf = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(0.693359375f), t);
  r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(kf), _mm256_set1_epi32(127)), 23);
  const __m256 ex = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), ex));
}

HGC_NORM_AVX2 void scale_shift_avx2(const float* x, float* y, int64_t n, float mean, float a, float b, bool silu) {
  const __m256 mv = _mm256_set1_ps(mean), av = _mm256_set1_ps(a), bv = _mm256_set1_ps(b);
  int64_t i = 0;
  if (silu) {
    for (; i + 16 <= n; i += 16) {
      __m256 v0 = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), av, bv);
      __m256 v1 = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mv), av, bv);
      _mm256_storeu_ps(y + i, silu8(v0));
      _mm256_storeu_ps(y + i + 8, silu8(v1));
    }
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(y + i, silu8(_mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), av, bv)));
    for (; i < n; i++) {
      float v = (x[i] - mean) * a + b;
      y[i] = v / (1.0f + exp_fast(-v));
    }
  } else {
    for (; i + 16 <= n; i += 16) {
      _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), av, bv));
      _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mv), av, bv));
    }
    for (; i < n; i++) y[i] = (x[i] - mean) * a + b;
  }
}
#endif

struct NormKernels {
  void (*moments)(const float*, int64_t, Moments&);
  void (*scale_shift)(const float*, float*, int64_t, float, float, float, bool);
};

NormKernels select_norm_kernels() {
#if HGC_NORM_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {moments_avx2, scale_shift_avx2};
#endif
  return {moments_generic, scale_shift};
}

const NormKernels& norm_kernels() {
  static const NormKernels k = select_norm_kernels();
  return k;
}

HGC_CLONES void affine_row(const float* x, float* y, int64_t n, float mean, float rstd, const float* gamma,
                           const float* beta) {
  for (int64_t i = 0; i < n; i++) {
    float v = (x[i] - mean) * rstd;
    if (gamma) v *= gamma[i];
    if (beta) v += beta[i];
    y[i] = v;
  }
}

}  // namespace

void group_norm(const GroupNormArgs& a) {
  const int64_t per_group = a.channels / a.groups;
  const int64_t group_elems = per_group * a.spatial;
  const NormKernels& K = norm_kernels();
  // One group per chunk at least; the pool hands out chunks dynamically, so uneven progress balances out.
  parallel_for(a.n * a.groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t ng = begin; ng < end; ng++) {
      const int64_t g = ng % a.groups;
      const float* x = a.x + ng * group_elems;
      float* y = a.y + ng * group_elems;
      Moments m;
      if (group_elems > 0) K.moments(x, group_elems, m);
      const double mean = m.mean, var = group_elems > 0 ? m.m2 / double(group_elems) : 0.0;
      const double rstd = 1.0 / std::sqrt(var + double(a.eps));
      for (int64_t c = 0; c < per_group; c++) {
        int64_t ch = g * per_group + c;
        const float gm = a.gamma ? a.gamma[ch] : 1.0f, bt = a.beta ? a.beta[ch] : 0.0f;
        K.scale_shift(x + c * a.spatial, y + c * a.spatial, a.spatial, float(mean), float(rstd * gm), bt, a.silu);
      }
    }
  });
}

void layer_norm(const LayerNormArgs& a) {
  parallel_for(a.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, a.cols)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float* x = a.x + r * a.cols;
      double mean = a.cols > 0 ? blocked_sum(x, a.cols) / double(a.cols) : 0.0;
      double var = a.cols > 0 ? centred_squares(x, a.cols, float(mean)) / double(a.cols) : 0.0;
      float rstd = static_cast<float>(1.0 / std::sqrt(var + double(a.eps)));
      affine_row(x, a.y + r * a.cols, a.cols, float(mean), rstd, a.gamma, a.beta);
    }
  });
}

namespace {
HGC_CLONES void softmax_row(const float* x, float* y, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  bool any_nan = false;
  for (int64_t i = 0; i < n; i++) any_nan |= (x[i] != x[i]);
  if (any_nan) {
    for (int64_t i = 0; i < n; i++) y[i] = NAN;
    return;
  }
  if (mx == -INFINITY) mx = 0.0f;  // an all −inf row: exp gives zeros, handled below
  float sum = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float e = exp_fast(x[i] - mx);
    y[i] = e;
    sum += e;
  }
  float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (int64_t i = 0; i < n; i++) y[i] *= inv;
}
}  // namespace

void softmax(const SoftmaxArgs& a) {
  parallel_for(a.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, a.cols)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) softmax_row(a.x + r * a.cols, a.out + r * a.cols, a.cols);
  });
}

}  // namespace hgc::cpu
