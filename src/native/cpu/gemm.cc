// Packed single-precision GEMM (GotoBLAS/BLIS-style loop nest) with a fused epilogue.
//
//   for jc in N step NC:            B panel  (KC x NC, packed in NR-wide slivers, shared by the threads)
//     for pc in K step KC:
//       for ic in M step MC:        A block  (MC x KC, packed in MR-tall slivers, one per thread)
//         for jr in NC step NR:     one B sliver stays in L1
//           for ir in MC step MR:   microkernel: MR x NR accumulators in registers
//
// C itself is the accumulator across the KC blocks; the epilogue act(acc + bias) + residual runs on each
// micro-tile right after its last KC block, while the tile is still in L1.
//
// The AVX2+FMA code lives in functions compiled with __attribute__((target("avx2,fma"))) and is chosen at
// run time, so the file needs no -mavx2 and still runs (through the portable kernels) on older x86-64 CPUs
// and on other architectures. Defining HGC_GEMM_PORTABLE_ONLY compiles the portable kernels alone.
//
// conv2d.cc reuses the driver through detail::gemm_ex with its own B-packing callback (implicit im2col).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "kernels.h"
#include "gemm_driver.h"
#include "scratch.h"
#include "thread_pool.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(HGC_GEMM_PORTABLE_ONLY)
#define HGC_GEMM_X86 1
#include <immintrin.h>
#define HGC_AVX2 __attribute__((target("avx2,fma")))
#else
#define HGC_GEMM_X86 0
#endif

namespace hgc::cpu {

namespace {

constexpr int64_t MR = 6;
constexpr int64_t NR = 16;
constexpr int64_t KC_MAX = 384;   // A sliver 6*KC + B sliver 16*KC floats: 33 KB at KC=384 (L1-resident B)
constexpr int64_t MC_MAX = 120;   // A block MC*KC floats: 180 KB (L2-resident)
constexpr int64_t NC_MAX = 3072;  // B panel KC*NC floats: 4.5 MB (L3-resident)
// Packing a row-major B sliver by sliver reads one cache line per row; past this row length (floats)
// the panel is packed row-wise instead (see pack_range).
constexpr int64_t FUSED_MAX_LDB = 4096;

// ---------------------------------------------------------------------------------------------------
// Aligned scratch buffer (64-byte aligned, freed on scope exit, may throw std::bad_alloc).
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t n) { reset(n); }
  ~Buffer() { release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void reset(size_t n) {
    release();
    if (n) p_ = scratch_alloc(n);
  }
  float* get() const { return p_; }

 private:
  void release() {
    scratch_free(p_);
    p_ = nullptr;
  }
  float* p_ = nullptr;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// ---------------------------------------------------------------------------------------------------
// Scalar activations (portable path and reference for tails).
inline float act_scalar(float x, Activation act) {
  switch (act) {
    case Activation::None:
      return x;
    case Activation::GeluErf:  // 0.5 x (1 + erf(x/sqrt2)) = 0.5 x erfc(-x/sqrt2): no cancellation for x < 0
      return 0.5f * x * std::erfc(x * -0.70710678118654752f);
    case Activation::GeluTanh: {  // 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u))
      float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return x / (1.0f + std::exp(-2.0f * u));
    }
    case Activation::Silu:
      return x / (1.0f + std::exp(-x));
    case Activation::QuickGelu:
      return x / (1.0f + std::exp(-1.702f * x));
  }
  return x;
}

// ---------------------------------------------------------------------------------------------------
// Portable kernels.

// C[0..6)[0..16) (=|+=) sum_p A[p*6+r] * B[p*16+j]. GCC/Clang vector extensions (SSE2 on baseline
// x86-64, NEON on arm64), 8 columns per pass so the 12 accumulators stay in 16 registers.
typedef float v4f __attribute__((vector_size(16)));

inline v4f load4(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store4(float* p, v4f v) { std::memcpy(p, &v, sizeof(v)); }

void ukr_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  for (int half = 0; half < 2; half++) {
    v4f acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = v4f{0.0f, 0.0f, 0.0f, 0.0f};
    const float* bp = b + 8 * half;
    const float* ap = a;
    for (int64_t p = 0; p < kc; p++, bp += NR, ap += MR) {
      v4f b0 = load4(bp), b1 = load4(bp + 4);
      for (int r = 0; r < MR; r++) {
        acc[r][0] += ap[r] * b0;
        acc[r][1] += ap[r] * b1;
      }
    }
    for (int r = 0; r < MR; r++) {
      float* cr = c + r * ldc + 8 * half;
      if (accumulate) {
        acc[r][0] += load4(cr);
        acc[r][1] += load4(cr + 4);
      }
      store4(cr, acc[r][0]);
      store4(cr + 4, acc[r][1]);
    }
  }
}

// c[j] = act(c[j] + bias_n[j] + bias_m) + res[j], j < cnt
void epi_generic(float* c, int64_t cnt, const float* bias_n, float bias_m, const float* res, Activation act) {
  for (int64_t j = 0; j < cnt; j++) {
    float v = c[j] + bias_m;
    if (bias_n) v += bias_n[j];
    v = act_scalar(v, act);
    if (res) v += res[j];
    c[j] = v;
  }
}

// A block rows [0, mc) x k [0, kc) -> slivers of MR rows: dst[s*MR*kc + p*MR + r]; rows >= mc are zero.
void pack_a_generic(const float* a, int64_t lda, bool trans, int64_t mc, int64_t kc, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    int64_t mr = std::min<int64_t>(MR, mc - i0);
    float* d = dst + i0 * kc;
    if (!trans) {
      const float* rows[MR];
      for (int64_t r = 0; r < mr; r++) rows[r] = a + (i0 + r) * lda;
      if (mr == MR) {
        for (int64_t p = 0; p < kc; p++)
          for (int r = 0; r < MR; r++) d[p * MR + r] = rows[r][p];
      } else {
        for (int64_t p = 0; p < kc; p++)
          for (int r = 0; r < MR; r++) d[p * MR + r] = r < mr ? rows[r][p] : 0.0f;
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        const float* s = a + p * lda + i0;
        for (int r = 0; r < MR; r++) d[p * MR + r] = r < mr ? s[r] : 0.0f;
      }
    }
  }
}

// One B sliver: rows [0, kc) x cols [0, nr) -> dst[p*NR + j]; cols >= nr are zero.
void pack_b_generic(const float* b, int64_t ldb, bool trans, int64_t kc, int64_t nr, float* dst) {
  if (!trans) {
    for (int64_t p = 0; p < kc; p++) {
      const float* s = b + p * ldb;
      float* d = dst + p * NR;
      for (int64_t j = 0; j < nr; j++) d[j] = s[j];
      for (int64_t j = nr; j < NR; j++) d[j] = 0.0f;
    }
  } else {
    if (nr < NR) std::memset(dst, 0, sizeof(float) * NR * kc);
    for (int64_t j = 0; j < nr; j++) {
      const float* s = b + j * ldb;
      for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = s[p];
    }
  }
}

#if HGC_GEMM_X86
// ---------------------------------------------------------------------------------------------------
// AVX2 + FMA kernels.

HGC_AVX2 void ukr_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  if (accumulate) {  // the C tile to add to is usually not cached: start fetching it now
    for (int r = 0; r < MR; r++) {
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
    }
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#define HGC_UKR_STEP(P)                                  \
  {                                                      \
    __m256 b0 = _mm256_load_ps(b + (P) * NR);            \
    __m256 b1 = _mm256_load_ps(b + (P) * NR + 8);        \
    __m256 av = _mm256_broadcast_ss(a + (P) * MR + 0);   \
    c00 = _mm256_fmadd_ps(av, b0, c00);                  \
    c01 = _mm256_fmadd_ps(av, b1, c01);                  \
    av = _mm256_broadcast_ss(a + (P) * MR + 1);          \
    c10 = _mm256_fmadd_ps(av, b0, c10);                  \
    c11 = _mm256_fmadd_ps(av, b1, c11);                  \
    av = _mm256_broadcast_ss(a + (P) * MR + 2);          \
    c20 = _mm256_fmadd_ps(av, b0, c20);                  \
    c21 = _mm256_fmadd_ps(av, b1, c21);                  \
    av = _mm256_broadcast_ss(a + (P) * MR + 3);          \
    c30 = _mm256_fmadd_ps(av, b0, c30);                  \
    c31 = _mm256_fmadd_ps(av, b1, c31);                  \
    av = _mm256_broadcast_ss(a + (P) * MR + 4);          \
    c40 = _mm256_fmadd_ps(av, b0, c40);                  \
    c41 = _mm256_fmadd_ps(av, b1, c41);                  \
    av = _mm256_broadcast_ss(a + (P) * MR + 5);          \
    c50 = _mm256_fmadd_ps(av, b0, c50);                  \
    c51 = _mm256_fmadd_ps(av, b1, c51);                  \
  }
  int64_t p = 0;
  for (; p + 4 <= kc; p += 4) {
    HGC_UKR_STEP(0)
    HGC_UKR_STEP(1)
    HGC_UKR_STEP(2)
    HGC_UKR_STEP(3)
    a += 4 * MR;
    b += 4 * NR;
  }
  for (; p < kc; p++) {
    HGC_UKR_STEP(0)
    a += MR;
    b += NR;
  }
#undef HGC_UKR_STEP
#define HGC_UKR_STORE(R, X0, X1)                                                   \
  {                                                                                \
    float* cr = c + (R) * ldc;                                                     \
    if (accumulate) {                                                              \
      X0 = _mm256_add_ps(X0, _mm256_loadu_ps(cr));                                 \
      X1 = _mm256_add_ps(X1, _mm256_loadu_ps(cr + 8));                             \
    }                                                                              \
    _mm256_storeu_ps(cr, X0);                                                      \
    _mm256_storeu_ps(cr + 8, X1);                                                  \
  }
  HGC_UKR_STORE(0, c00, c01)
  HGC_UKR_STORE(1, c10, c11)
  HGC_UKR_STORE(2, c20, c21)
  HGC_UKR_STORE(3, c30, c31)
  HGC_UKR_STORE(4, c40, c41)
  HGC_UKR_STORE(5, c50, c51)
#undef HGC_UKR_STORE
}

// The activations work on V vectors at once, step by step, so that the long dependency chains of
// independent vectors interleave (they are latency-bound one vector at a time).

// exp(x): 2^n * e^r, |r| <= ln2/2, degree-7 Taylor polynomial. NaN propagates. The input is clamped to
// [-87, 80] (operand order keeps NaN: max/min return the 2nd operand on NaN), so 2^n stays a normal float
// and 1 / (1 + exp(x)) stays out of the denormal range, which is slow on some cores.
template <int V>
HGC_AVX2 inline void exp_avx2(__m256* x) {
  __m256 n[V], r[V], p[V];
  for (int i = 0; i < V; i++) {
    x[i] = _mm256_min_ps(_mm256_set1_ps(80.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x[i]));
    n[i] = _mm256_round_ps(_mm256_mul_ps(x[i], _mm256_set1_ps(1.44269504088896341f)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  for (int i = 0; i < V; i++) r[i] = _mm256_fnmadd_ps(n[i], _mm256_set1_ps(0.693145751953125f), x[i]);
  for (int i = 0; i < V; i++) r[i] = _mm256_fnmadd_ps(n[i], _mm256_set1_ps(1.428606765330187045e-06f), r[i]);
  for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 5040.0f), r[i], _mm256_set1_ps(1.0f / 720.0f));
  for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(p[i], r[i], _mm256_set1_ps(1.0f / 120.0f));
  for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(p[i], r[i], _mm256_set1_ps(1.0f / 24.0f));
  for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(p[i], r[i], _mm256_set1_ps(1.0f / 6.0f));
  for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(p[i], r[i], _mm256_set1_ps(0.5f));
  for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(p[i], r[i], _mm256_set1_ps(1.0f));
  for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(p[i], r[i], _mm256_set1_ps(1.0f));
  for (int i = 0; i < V; i++) {
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n[i]), _mm256_set1_epi32(127)), 23);
    x[i] = _mm256_mul_ps(p[i], _mm256_castsi256_ps(e));
  }
}

// x * sigmoid(k * x) = x / (1 + exp(-k x))
template <int V>
HGC_AVX2 inline void x_sigmoid_avx2(__m256* x, __m256* z) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int i = 0; i < V; i++) z[i] = _mm256_sub_ps(_mm256_setzero_ps(), z[i]);
  exp_avx2<V>(z);
  for (int i = 0; i < V; i++) x[i] = _mm256_div_ps(x[i], _mm256_add_ps(one, z[i]));
}

// gelu(x) = x * Phi(x), Phi(x) = 0.5 * erfc(-x / sqrt(2)), with erfc(z) = t * exp(-z^2 + P(t)),
// t = 1 / (1 + z/2) for z >= 0 (Chebyshev fit, relative error < 1.2e-7 on erfc), reflected for negative z.
// No cancellation in the tail. Phi(-|x|) < 1e-36 beyond |x| = 12.7: clamping z there keeps every
// intermediate a normal float.
template <int V>
HGC_AVX2 inline void gelu_erf_avx2(__m256* x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 z[V], t[V], p[V];
  for (int i = 0; i < V; i++) {
    z[i] = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x[i]), _mm256_set1_ps(0.70710678118654752f));
    z[i] = _mm256_min_ps(_mm256_set1_ps(9.0f), z[i]);
    t[i] = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), z[i], one));
  }
  static const float coef[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                               -0.18628806f, 0.09678418f,  0.37409196f, 1.00002368f,  -1.26551223f};
  for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(_mm256_set1_ps(coef[0]), t[i], _mm256_set1_ps(coef[1]));
  for (int c = 2; c < 10; c++)
    for (int i = 0; i < V; i++) p[i] = _mm256_fmadd_ps(p[i], t[i], _mm256_set1_ps(coef[c]));
  for (int i = 0; i < V; i++) p[i] = _mm256_fnmadd_ps(z[i], z[i], p[i]);
  exp_avx2<V>(p);
  for (int i = 0; i < V; i++) {
    __m256 half_erfc = _mm256_mul_ps(_mm256_mul_ps(t[i], p[i]), _mm256_set1_ps(0.5f));  // Phi(-|x|)
    __m256 neg = _mm256_cmp_ps(x[i], _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 phi = _mm256_blendv_ps(_mm256_sub_ps(one, half_erfc), half_erfc, neg);
    x[i] = _mm256_mul_ps(x[i], phi);
  }
}

template <int V>
HGC_AVX2 inline void act_avx2(__m256* v, Activation act) {
  __m256 z[V];
  switch (act) {
    case Activation::None:
      return;
    case Activation::GeluErf:
      gelu_erf_avx2<V>(v);
      return;
    case Activation::GeluTanh:  // 0.5 x (1 + tanh(u)) = x * sigmoid(2u)
      for (int i = 0; i < V; i++) {
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(v[i], v[i]), v[i]);
        z[i] = _mm256_mul_ps(_mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, v[i]),
                             _mm256_set1_ps(2.0f * 0.79788456080286536f));
      }
      x_sigmoid_avx2<V>(v, z);
      return;
    case Activation::Silu:
      for (int i = 0; i < V; i++) z[i] = v[i];
      x_sigmoid_avx2<V>(v, z);
      return;
    case Activation::QuickGelu:
      for (int i = 0; i < V; i++) z[i] = _mm256_mul_ps(v[i], _mm256_set1_ps(1.702f));
      x_sigmoid_avx2<V>(v, z);
      return;
  }
}

HGC_AVX2 void epi_avx2(float* c, int64_t cnt, const float* bias_n, float bias_m, const float* res,
                       Activation act) {
  const __m256 bm = _mm256_set1_ps(bias_m);
  int64_t j = 0;
  for (; j + 16 <= cnt; j += 16) {
    __m256 v[2];
    for (int i = 0; i < 2; i++) {
      v[i] = _mm256_add_ps(_mm256_loadu_ps(c + j + 8 * i), bm);
      if (bias_n) v[i] = _mm256_add_ps(v[i], _mm256_loadu_ps(bias_n + j + 8 * i));
    }
    act_avx2<2>(v, act);
    for (int i = 0; i < 2; i++) {
      if (res) v[i] = _mm256_add_ps(v[i], _mm256_loadu_ps(res + j + 8 * i));
      _mm256_storeu_ps(c + j + 8 * i, v[i]);
    }
  }
  for (; j + 8 <= cnt; j += 8) {
    __m256 v = _mm256_add_ps(_mm256_loadu_ps(c + j), bm);
    if (bias_n) v = _mm256_add_ps(v, _mm256_loadu_ps(bias_n + j));
    act_avx2<1>(&v, act);
    if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + j));
    _mm256_storeu_ps(c + j, v);
  }
  if (j < cnt) {  // tail through a small buffer: same math as the vector lanes, no out-of-bounds access
    alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t rem = cnt - j;
    for (int64_t i = 0; i < rem; i++) t[i] = c[j + i] + bias_m + (bias_n ? bias_n[j + i] : 0.0f);
    __m256 v = _mm256_load_ps(t);
    act_avx2<1>(&v, act);
    _mm256_store_ps(t, v);
    for (int64_t i = 0; i < rem; i++) c[j + i] = t[i] + (res ? res[j + i] : 0.0f);
  }
}

// Transpose 8 rows of 8 floats (in registers).
HGC_AVX2 inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5,
                                __m256& r6, __m256& r7) {
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r0 = _mm256_permute2f128_ps(s0, s4, 0x20);
  r1 = _mm256_permute2f128_ps(s1, s5, 0x20);
  r2 = _mm256_permute2f128_ps(s2, s6, 0x20);
  r3 = _mm256_permute2f128_ps(s3, s7, 0x20);
  r4 = _mm256_permute2f128_ps(s0, s4, 0x31);
  r5 = _mm256_permute2f128_ps(s1, s5, 0x31);
  r6 = _mm256_permute2f128_ps(s2, s6, 0x31);
  r7 = _mm256_permute2f128_ps(s3, s7, 0x31);
}

HGC_AVX2 void pack_a_avx2(const float* a, int64_t lda, bool trans, int64_t mc, int64_t kc, float* dst) {
  int64_t i0 = 0;
  if (!trans) {
    // Full slivers: 6 rows x 8 k at a time, transposed as an 8x8 block with two dummy rows. The stores of
    // 8 floats at stride 6 overlap; each one's 2 junk lanes are overwritten by the next, and the last
    // group of each sliver is written with 6-float stores.
    for (; i0 + MR <= mc; i0 += MR) {
      const float* r0 = a + i0 * lda;
      float* d = dst + i0 * kc;
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8) {
        __m256 x0 = _mm256_loadu_ps(r0 + p), x1 = _mm256_loadu_ps(r0 + lda + p);
        __m256 x2 = _mm256_loadu_ps(r0 + 2 * lda + p), x3 = _mm256_loadu_ps(r0 + 3 * lda + p);
        __m256 x4 = _mm256_loadu_ps(r0 + 4 * lda + p), x5 = _mm256_loadu_ps(r0 + 5 * lda + p);
        __m256 x6 = _mm256_setzero_ps(), x7 = _mm256_setzero_ps();
        transpose8(x0, x1, x2, x3, x4, x5, x6, x7);
        float* q = d + p * MR;
        _mm256_storeu_ps(q + 0 * MR, x0);
        _mm256_storeu_ps(q + 1 * MR, x1);
        _mm256_storeu_ps(q + 2 * MR, x2);
        _mm256_storeu_ps(q + 3 * MR, x3);
        _mm256_storeu_ps(q + 4 * MR, x4);
        _mm256_storeu_ps(q + 5 * MR, x5);
        _mm256_storeu_ps(q + 6 * MR, x6);
        // last group: 6 floats, so nothing is written past this sliver's end
        _mm_storeu_ps(q + 7 * MR, _mm256_castps256_ps128(x7));
        _mm_storel_pi(reinterpret_cast<__m64*>(q + 7 * MR + 4), _mm256_extractf128_ps(x7, 1));
      }
      for (; p < kc; p++)
        for (int r = 0; r < MR; r++) d[p * MR + r] = r0[r * lda + p];
    }
  }
  if (i0 < mc) pack_a_generic(a + (trans ? i0 : i0 * lda), lda, trans, mc - i0, kc, dst + i0 * kc);
}

HGC_AVX2 void pack_b_avx2(const float* b, int64_t ldb, bool trans, int64_t kc, int64_t nr, float* dst) {
  if (nr == NR) {
    if (!trans) {
      for (int64_t p = 0; p < kc; p++) {
        const float* s = b + p * ldb;
        _mm256_store_ps(dst + p * NR, _mm256_loadu_ps(s));
        _mm256_store_ps(dst + p * NR + 8, _mm256_loadu_ps(s + 8));
      }
      return;
    }
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
      for (int h = 0; h < 2; h++) {
        const float* s = b + (8 * h) * ldb + p;
        __m256 x0 = _mm256_loadu_ps(s), x1 = _mm256_loadu_ps(s + ldb);
        __m256 x2 = _mm256_loadu_ps(s + 2 * ldb), x3 = _mm256_loadu_ps(s + 3 * ldb);
        __m256 x4 = _mm256_loadu_ps(s + 4 * ldb), x5 = _mm256_loadu_ps(s + 5 * ldb);
        __m256 x6 = _mm256_loadu_ps(s + 6 * ldb), x7 = _mm256_loadu_ps(s + 7 * ldb);
        transpose8(x0, x1, x2, x3, x4, x5, x6, x7);
        float* q = dst + p * NR + 8 * h;
        _mm256_store_ps(q + 0 * NR, x0);
        _mm256_store_ps(q + 1 * NR, x1);
        _mm256_store_ps(q + 2 * NR, x2);
        _mm256_store_ps(q + 3 * NR, x3);
        _mm256_store_ps(q + 4 * NR, x4);
        _mm256_store_ps(q + 5 * NR, x5);
        _mm256_store_ps(q + 6 * NR, x6);
        _mm256_store_ps(q + 7 * NR, x7);
      }
    }
    if (p < kc) pack_b_generic(b + p, ldb, true, kc - p, nr, dst + p * NR);
    return;
  }
  pack_b_generic(b, ldb, trans, kc, nr, dst);
}
#endif  // HGC_GEMM_X86

// ---------------------------------------------------------------------------------------------------
// Kernel selection (once).
struct Kernels {
  void (*ukr)(int64_t, const float*, const float*, float*, int64_t, bool);
  void (*epi)(float*, int64_t, const float*, float, const float*, Activation);
  void (*pack_a)(const float*, int64_t, bool, int64_t, int64_t, float*);
  void (*pack_b)(const float*, int64_t, bool, int64_t, int64_t, float*);
};

Kernels select_kernels() {
#if HGC_GEMM_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return Kernels{ukr_avx2, epi_avx2, pack_a_avx2, pack_b_avx2};
#endif
  return Kernels{ukr_generic, epi_generic, pack_a_generic, pack_b_generic};
}

const Kernels& kernels() {
  static const Kernels k = select_kernels();
  return k;
}

// ---------------------------------------------------------------------------------------------------
// Single-matrix driver.

struct Problem {
  int64_t m, n, k;
  const float* a;
  int64_t lda;
  bool trans_a;
  const float* b;
  int64_t ldb;
  bool trans_b;
  detail::PackBFn pack_b;
  const void* pack_ctx;
  float* c;
  int64_t ldc;
  const float* bias_n;
  const float* bias_m;
  const float* residual;
  int64_t ldr;
  bool res_in_c;  // C already holds the residual (exact alias, no activation): accumulate onto it
  Activation act;
};

inline void pack_b_sliver(const Problem& P, const Kernels& K, int64_t k0, int64_t kc, int64_t n0, int64_t nr,
                          float* dst) {
  if (P.pack_b) {
    P.pack_b(P.pack_ctx, k0, kc, n0, nr, dst);
  } else {
    const float* src = P.trans_b ? P.b + n0 * P.ldb + k0 : P.b + k0 * P.ldb + n0;
    K.pack_b(src, P.ldb, P.trans_b, kc, nr, dst);
  }
}

// One thread's share of one (jc, pc) step: rows [m_lo, m_hi) x slivers [s_lo, s_hi) of the panel.
void macro_kernel(const Problem& P, const Kernels& K, int64_t jc, int64_t pc, int64_t kc, bool first, bool last,
                  int64_t m_lo, int64_t m_hi, int64_t s_lo, int64_t s_hi, int64_t nc, const float* bpanel,
                  float* abuf, float* bsliver) {
  const bool accumulate = !first || P.res_in_c;
  const bool epilogue = last && (P.bias_n || P.bias_m || P.act != Activation::None || P.residual);
  alignas(64) float tile[MR * NR];
  // Blocks of equal height (a multiple of MR): no thin last block that would stream the panel for little work.
  const int64_t n_ic = ceil_div(m_hi - m_lo, MC_MAX);
  const int64_t mc_nom = std::min(MC_MAX, round_up(ceil_div(m_hi - m_lo, n_ic), MR));
  for (int64_t ic = m_lo; ic < m_hi; ic += mc_nom) {
    int64_t mc = std::min(mc_nom, m_hi - ic);
    const float* asrc = P.trans_a ? P.a + pc * P.lda + ic : P.a + ic * P.lda + pc;
    K.pack_a(asrc, P.lda, P.trans_a, mc, kc, abuf);
    for (int64_t s = s_lo; s < s_hi; s++) {
      int64_t col = jc + s * NR;
      int64_t nr = std::min(NR, nc - s * NR);
      const float* bs;
      if (bsliver) {  // small M: pack the sliver right before its only use, while it stays in L1
        pack_b_sliver(P, K, pc, kc, col, nr, bsliver);
        bs = bsliver;
      } else {
        bs = bpanel + s * NR * kc;
      }
      for (int64_t ir = 0; ir < mc; ir += MR) {
        int64_t mr = std::min(MR, mc - ir);
        int64_t row = ic + ir;
        float* cp = P.c + row * P.ldc + col;
        const float* as = abuf + ir * kc;
        if (mr == MR && nr == NR) {
          K.ukr(kc, as, bs, cp, P.ldc, accumulate);
        } else {
          K.ukr(kc, as, bs, tile, NR, false);
          for (int64_t r = 0; r < mr; r++) {
            float* cr = cp + r * P.ldc;
            const float* tr = tile + r * NR;
            if (accumulate)
              for (int64_t j = 0; j < nr; j++) cr[j] += tr[j];
            else
              for (int64_t j = 0; j < nr; j++) cr[j] = tr[j];
          }
        }
        if (epilogue) {
          for (int64_t r = 0; r < mr; r++) {
            K.epi(cp + r * P.ldc, nr, P.bias_n ? P.bias_n + col : nullptr, P.bias_m ? P.bias_m[row + r] : 0.0f,
                  (P.residual && !P.res_in_c) ? P.residual + (row + r) * P.ldr + col : nullptr, P.act);
          }
        }
      }
    }
  }
}

void run_problem(const Problem& P, bool parallel) {
  const Kernels& K = kernels();
  const int64_t nt = parallel ? std::max(1, num_threads()) : 1;

  const int64_t nk = ceil_div(P.k, KC_MAX);
  const int64_t kc_nom = round_up(ceil_div(P.k, nk), 4);
  const int64_t njc = ceil_div(P.n, NC_MAX);
  const int64_t nc_nom = round_up(ceil_div(P.n, njc), NR);

  // Thread grid wm x wn over (micro-rows of M) x (slivers of the panel): the factorisation with the
  // smallest per-thread share, preferring to split M (B is shared, A is not packed twice).
  const int64_t mrows = ceil_div(P.m, MR);
  const int64_t nsl_nom = nc_nom / NR;
  int64_t wm = 1, wn = 1;
  {
    double best = -1;
    for (int64_t f = nt; f >= 1; f--) {
      if (nt % f) continue;
      int64_t fm = f, fn = nt / f;
      if (fm > mrows || fn > nsl_nom) continue;
      double share = double(ceil_div(mrows, fm) * MR) * double(ceil_div(nsl_nom, fn) * NR);
      // packing A twice costs a bit: penalise N splits slightly
      share *= 1.0 + 0.02 * double(fn - 1);
      if (best < 0 || share < best) best = share, wm = fm, wn = fn;
    }
  }
  const int64_t tasks = wm * wn;

  // With M in one block per thread and no M split, each B sliver is used by one thread for one A block:
  // pack it just before use into a per-thread L1 buffer instead of a shared panel.
  const bool fused = wm == 1 && P.m <= MC_MAX && (P.pack_b || P.trans_b || P.ldb <= FUSED_MAX_LDB);
  Buffer bpanel(fused ? 0 : size_t(kc_nom) * size_t(nc_nom) + 64);
  const size_t abuf_stride = size_t(MC_MAX * kc_nom + 64) + (fused ? size_t(NR * kc_nom) : 0);
  Buffer abuf(size_t(tasks) * abuf_stride);

  for (int64_t jc = 0; jc < P.n; jc += nc_nom) {
    const int64_t nc = std::min(nc_nom, P.n - jc);
    const int64_t nsl = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < P.k; pc += kc_nom) {
      const int64_t kc = std::min(kc_nom, P.k - pc);
      const bool first = pc == 0, last = pc + kc >= P.k;
      auto pack_range = [&](int64_t s0, int64_t s1) {
        if (!P.pack_b && !P.trans_b) {
          // Row-major B: walk each row of the panel once (long contiguous reads) and scatter its 16-float
          // pieces to the slivers, a group of slivers at a time, rather than sliver by sliver down the
          // rows (one cache line per row, a new page every few rows when ldb is large).
          constexpr int64_t G = 32;
          for (int64_t g0 = s0; g0 < s1; g0 += G) {
            const int64_t g1 = std::min(s1, g0 + G);
            const int64_t full_end = std::min(g1, nc / NR);  // slivers with 16 real columns
            for (int64_t p = 0; p < kc; p++) {
              const float* src = P.b + (pc + p) * P.ldb + jc;
              for (int64_t s = g0; s < full_end; s++)
                std::memcpy(bpanel.get() + s * NR * kc + p * NR, src + s * NR, sizeof(float) * NR);
            }
            for (int64_t s = full_end; s < g1; s++)
              pack_b_sliver(P, K, pc, kc, jc + s * NR, std::min(NR, nc - s * NR), bpanel.get() + s * NR * kc);
          }
          return;
        }
        for (int64_t s = s0; s < s1; s++)
          pack_b_sliver(P, K, pc, kc, jc + s * NR, std::min(NR, nc - s * NR), bpanel.get() + s * NR * kc);
      };
      const bool separate_pack = wm > 1;
      if (separate_pack) {
        parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
          for (int64_t t = t0; t < t1; t++) pack_range(nsl * t / tasks, nsl * (t + 1) / tasks);
        });
      }
      auto body = [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
          int64_t tm = t / wn, tn = t % wn;
          int64_t m_lo = std::min(P.m, (mrows * tm / wm) * MR), m_hi = std::min(P.m, (mrows * (tm + 1) / wm) * MR);
          int64_t s_lo = nsl * tn / wn, s_hi = nsl * (tn + 1) / wn;
          if (!separate_pack && !fused) pack_range(s_lo, s_hi);
          float* ab = abuf.get() + size_t(t) * abuf_stride;
          if (m_lo < m_hi && s_lo < s_hi)
            macro_kernel(P, K, jc, pc, kc, first, last, m_lo, m_hi, s_lo, s_hi, nc, bpanel.get(), ab,
                         fused ? ab + MC_MAX * kc_nom + 64 : nullptr);
        }
      };
      if (tasks > 1)
        parallel_for(tasks, 1, body);
      else
        body(0, 1);
    }
  }
}

}  // namespace

namespace detail {

// Packs rows [0, mc) x k [0, kc) of a row-major A (leading dimension lda) into MR-row slivers,
// dst[s*MR*kc + p*MR + r], rows past mc zero (the layout the microkernels read). Used by conv2d.cc's
// direct 3x3 path.
void pack_a_panel(const float* a, int64_t lda, int64_t mc, int64_t kc, float* dst) {
  kernels().pack_a(a, lda, false, mc, kc, dst);
}

MicroKernelFn microkernel() { return kernels().ukr; }

void gemm_ex(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a, const float* b,
             int64_t ldb, bool trans_b, PackBFn pack_b, const void* pack_ctx, float* c, int64_t ldc,
             const float* bias_n, const float* bias_m, const float* residual, int64_t ldr, Activation act,
             bool parallel) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // C = act(bias) + residual; element-wise, so an exact alias of residual and C is fine
    auto rows = [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        float* cr = c + r * ldc;
        const float* rr = residual ? residual + r * ldr : nullptr;
        float bm = bias_m ? bias_m[r] : 0.0f;
        for (int64_t j = 0; j < n; j++) {
          float v = act_scalar(bm + (bias_n ? bias_n[j] : 0.0f), act);
          cr[j] = rr ? v + rr[j] : v;
        }
      }
    };
    if (parallel)
      parallel_for(m, std::max<int64_t>(1, 16384 / n), rows);
    else
      rows(0, m);
    return;
  }

  Problem P{m, n, k, a, lda, trans_a, b, ldb, trans_b, pack_b, pack_ctx, c, ldc, bias_n, bias_m,
            residual, ldr, false, act};

  std::vector<float> res_copy;
  if (residual) {
    uintptr_t c_lo = reinterpret_cast<uintptr_t>(c);
    uintptr_t c_hi = reinterpret_cast<uintptr_t>(c + (m - 1) * ldc + n);
    uintptr_t r_lo = reinterpret_cast<uintptr_t>(residual);
    uintptr_t r_hi = reinterpret_cast<uintptr_t>(residual + (m - 1) * ldr + n);
    if (r_lo < c_hi && c_lo < r_hi) {  // residual overlaps the output
      if (residual == c && ldr == ldc && act == Activation::None) {
        P.res_in_c = true;
      } else {  // C is the accumulator, so keep a private copy of the residual
        res_copy.resize(size_t(m) * size_t(n));
        for (int64_t r = 0; r < m; r++) std::memcpy(&res_copy[size_t(r * n)], residual + r * ldr, sizeof(float) * n);
        P.residual = res_copy.data();
        P.ldr = n;
      }
    }
  }
  run_problem(P, parallel);
}

}  // namespace detail

void gemm(const GemmArgs& g) {
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
  const int nt = num_threads();
  const double item_flops = 2.0 * double(g.m) * double(g.n) * double(std::max<int64_t>(g.k, 1));
  const bool batch_parallel =
      g.batch > 1 && nt > 1 && (g.batch >= 4 * nt || g.batch % nt == 0 || item_flops < 4e6);
  auto item = [&](int64_t i, bool par) {
    const float* a = g.a ? g.a + i * g.stride_a : nullptr;
    const float* b = g.b ? g.b + i * g.stride_b : nullptr;
    detail::gemm_ex(g.m, g.n, g.k, a, g.lda, g.trans_a, b, g.ldb, g.trans_b, nullptr, nullptr,
                    g.c + i * g.stride_c, g.ldc, g.bias, nullptr,
                    g.residual ? g.residual + i * g.stride_residual : nullptr, g.ldc, g.act, par);
  };
  if (batch_parallel) {
    parallel_for(g.batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; i++) item(i, false);
    });
  } else {
    for (int64_t i = 0; i < g.batch; i++) item(i, nt > 1);
  }
}

}  // namespace hgc::cpu
