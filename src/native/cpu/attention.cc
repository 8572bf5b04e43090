// Multi-head scaled dot-product attention (see kernels.h for the contract).
//
// Layout of the fast path ("queries in lanes"): a tile of kTileQ queries is packed transposed and pre-scaled
// (Qt[d][kTileQ], scale·log2(e) folded in), K is packed per (batch, head) in groups of 4 keys
// (Kp[key/4][d][4]) and V per group of 4 dims (Vp[dim/4][m][4]). Then for each block of keys
//   S^T[key][query]  = K_block · Qt          (broadcast K, FMA with query vectors)
//   P^T              = exp2(S^T - running max)  (max and sum are plain vertical ops: no horizontal reductions)
//   O^T[dim][query] += V_blockᵀ · P^T         (broadcast V, FMA with probability vectors)
// so head_dim needs no vector tails at all and only the query tile is padded. The flash-style running
// max / sum rescale the accumulator once per key block.
//
// Capture mode runs two passes per tile: the first only collects the row max and sum, the second recomputes
// the scores, writes the exact probabilities and accumulates O with them. Replay transposes probability
// tiles into the same P^T buffer and reuses the P·V kernel.
//
// AVX2+FMA code lives in functions with a target attribute and is chosen at run time; a portable scalar
// path gives the same results (to float rounding) on other CPUs.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>

#include "kernels.h"
#include "scratch.h"
#include "thread_pool.h"

#if defined(__x86_64__) && !defined(HGC_ATTENTION_FORCE_SCALAR)
#define HGC_ATTENTION_X86 1
#include <immintrin.h>
#endif

namespace hgc::cpu {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct AlignedDelete {
  void operator()(float* p) const { scratch_free(p); }
};
using Buffer = std::unique_ptr<float[], AlignedDelete>;

Buffer alloc_floats(int64_t n) {
  size_t count = static_cast<size_t>(std::max<int64_t>(n, 16));
  return Buffer(scratch_alloc(count));
}

// Reciprocal of a softmax denominator: never divides by zero, keeps NaN.
inline float safe_recip(float l) { return l == 0.0f ? 0.0f : 1.0f / l; }

// ---------------------------------------------------------------------------------------------------------
// Portable path: per query row, streaming softmax over blocks of keys.
// ---------------------------------------------------------------------------------------------------------

constexpr int64_t kScalarBlock = 64;

void scalar_rows(const AttentionArgs& a, int64_t begin, int64_t end) {
  const int64_t n = a.n, m = a.m, d = a.head_dim, heads = a.heads;
  const int64_t offset = m - n;
  Buffer acc = alloc_floats(d);
  Buffer s = alloc_floats(kScalarBlock);
  for (int64_t task = begin; task < end; task++) {
    const int64_t bh = task / n, i = task % n;
    const int64_t b = bh / heads, h = bh % heads;
    float* o = a.out + b * n * a.out_row_stride + i * a.out_row_stride + h * d;
    std::fill(acc.get(), acc.get() + d, 0.0f);
    if (a.mode == AttentionMode::Replay) {
      const float* p = a.probs + (bh * n + i) * m;
      const float* vb = a.v + b * m * a.v_row_stride + h * d;
      for (int64_t j = 0; j < m; j++) {
        const float pj = p[j];
        const float* vr = vb + j * a.v_row_stride;
        for (int64_t c = 0; c < d; c++) acc[c] += pj * vr[c];
      }
      for (int64_t c = 0; c < d; c++) o[c] = acc[c];
      continue;
    }
    const float* qr = a.q + b * n * a.q_row_stride + i * a.q_row_stride + h * d;
    const float* kb = a.k + b * m * a.k_row_stride + h * d;
    const float* vb = a.v + b * m * a.v_row_stride + h * d;
    const int64_t jend = a.causal ? std::min<int64_t>(m, std::max<int64_t>(0, i + offset + 1)) : m;
    auto scores = [&](int64_t j0, int64_t jn) {
      for (int64_t jj = 0; jj < jn; jj++) {
        const float* kr = kb + (j0 + jj) * a.k_row_stride;
        float dot = 0.0f;
        for (int64_t c = 0; c < d; c++) dot += qr[c] * kr[c];
        s[jj] = dot * a.scale;
      }
    };
    float mx = kNegInf, l = 0.0f;
    for (int64_t j0 = 0; j0 < jend; j0 += kScalarBlock) {
      const int64_t jn = std::min(kScalarBlock, jend - j0);
      scores(j0, jn);
      float bm = kNegInf;
      for (int64_t jj = 0; jj < jn; jj++) bm = s[jj] > bm ? s[jj] : bm;
      const float mnew = bm > mx ? bm : mx;
      const float ref = mnew == kNegInf ? 0.0f : mnew;  // all scores -inf so far: p = 0, not NaN
      const float alpha = std::exp(mx - ref);
      mx = mnew;
      float sum = 0.0f;
      for (int64_t jj = 0; jj < jn; jj++) {
        s[jj] = std::exp(s[jj] - ref);
        sum += s[jj];
      }
      l = l * alpha + sum;
      if (a.mode == AttentionMode::Compute) {
        for (int64_t c = 0; c < d; c++) acc[c] *= alpha;
        for (int64_t jj = 0; jj < jn; jj++) {
          const float pj = s[jj];
          const float* vr = vb + (j0 + jj) * a.v_row_stride;
          for (int64_t c = 0; c < d; c++) acc[c] += pj * vr[c];
        }
      }
    }
    if (a.mode == AttentionMode::Compute) {
      const float inv = safe_recip(l);
      for (int64_t c = 0; c < d; c++) o[c] = acc[c] * inv;
      continue;
    }
    // Capture: exact probabilities in a second pass.
    const float inv = safe_recip(l);
    const float ref = mx == kNegInf ? 0.0f : mx;
    float* p = a.probs + (bh * n + i) * m;
    for (int64_t j0 = 0; j0 < jend; j0 += kScalarBlock) {
      const int64_t jn = std::min(kScalarBlock, jend - j0);
      scores(j0, jn);
      for (int64_t jj = 0; jj < jn; jj++) {
        const float pj = std::exp(s[jj] - ref) * inv;
        p[j0 + jj] = pj;
        const float* vr = vb + (j0 + jj) * a.v_row_stride;
        for (int64_t c = 0; c < d; c++) acc[c] += pj * vr[c];
      }
    }
    for (int64_t j = jend; j < m; j++) p[j] = 0.0f;
    for (int64_t c = 0; c < d; c++) o[c] = acc[c];
  }
}

void attention_scalar(const AttentionArgs& a) {
  const int64_t rows = a.batch * a.heads * a.n;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, a.m * a.head_dim));
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) { scalar_rows(a, begin, end); });
}

// ---------------------------------------------------------------------------------------------------------
// AVX2 + FMA path.
// ---------------------------------------------------------------------------------------------------------
#if defined(HGC_ATTENTION_X86)

#define HGC_AVX2 __attribute__((target("avx2,fma")))

constexpr int64_t kTileQ = 24;   // queries per tile: 3 vectors of 8 lanes
constexpr int64_t kBlockK = 128;  // keys per softmax block (multiple of 4)

// 2^x for x <= 0 (larger x is not needed here). Relative error ~2.3e-7; x <= -127 gives exactly 0 (also for
// -inf); NaN stays NaN.
HGC_AVX2 inline __m256 exp2_ps(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-127.0f), x);  // second operand is returned for NaN
  const __m256 r = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, r);
  __m256 p = _mm256_set1_ps(0.0013202981790527701f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.009674952365458012f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.055510472506284714f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.24022166430950165f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.6931465864181519f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  // NaN converts to 0x80000000, whose shifted value is 0: the NaN bits of p pass through unchanged.
  const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(r), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

// St[4 keys][kTileQ] = Kp_group[d][4]ᵀ · Qt[d][kTileQ].
HGC_AVX2 inline void score_kernel(const float* __restrict qt, const float* __restrict kp, int64_t d,
                                  float* __restrict st) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
  __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
  for (int64_t c = 0; c < d; c++) {
    const __m256 q0 = _mm256_load_ps(qt + c * kTileQ);
    const __m256 q1 = _mm256_load_ps(qt + c * kTileQ + 8);
    const __m256 q2 = _mm256_load_ps(qt + c * kTileQ + 16);
    __m256 k = _mm256_broadcast_ss(kp + c * 4 + 0);
    a00 = _mm256_fmadd_ps(k, q0, a00);
    a01 = _mm256_fmadd_ps(k, q1, a01);
    a02 = _mm256_fmadd_ps(k, q2, a02);
    k = _mm256_broadcast_ss(kp + c * 4 + 1);
    a10 = _mm256_fmadd_ps(k, q0, a10);
    a11 = _mm256_fmadd_ps(k, q1, a11);
    a12 = _mm256_fmadd_ps(k, q2, a12);
    k = _mm256_broadcast_ss(kp + c * 4 + 2);
    a20 = _mm256_fmadd_ps(k, q0, a20);
    a21 = _mm256_fmadd_ps(k, q1, a21);
    a22 = _mm256_fmadd_ps(k, q2, a22);
    k = _mm256_broadcast_ss(kp + c * 4 + 3);
    a30 = _mm256_fmadd_ps(k, q0, a30);
    a31 = _mm256_fmadd_ps(k, q1, a31);
    a32 = _mm256_fmadd_ps(k, q2, a32);
  }
  _mm256_store_ps(st + 0 * kTileQ + 0, a00);
  _mm256_store_ps(st + 0 * kTileQ + 8, a01);
  _mm256_store_ps(st + 0 * kTileQ + 16, a02);
  _mm256_store_ps(st + 1 * kTileQ + 0, a10);
  _mm256_store_ps(st + 1 * kTileQ + 8, a11);
  _mm256_store_ps(st + 1 * kTileQ + 16, a12);
  _mm256_store_ps(st + 2 * kTileQ + 0, a20);
  _mm256_store_ps(st + 2 * kTileQ + 8, a21);
  _mm256_store_ps(st + 2 * kTileQ + 16, a22);
  _mm256_store_ps(st + 3 * kTileQ + 0, a30);
  _mm256_store_ps(st + 3 * kTileQ + 8, a31);
  _mm256_store_ps(st + 3 * kTileQ + 16, a32);
}

// Ot[4 dims][kTileQ] = Ot * alpha + Vp_group[jn][4]ᵀ · Pt[jn][kTileQ].
HGC_AVX2 inline void pv_kernel(const float* __restrict pt, const float* __restrict vp, int64_t jn,
                               float* __restrict ot, __m256 al0, __m256 al1, __m256 al2) {
  __m256 a00 = _mm256_mul_ps(_mm256_load_ps(ot + 0 * kTileQ + 0), al0);
  __m256 a01 = _mm256_mul_ps(_mm256_load_ps(ot + 0 * kTileQ + 8), al1);
  __m256 a02 = _mm256_mul_ps(_mm256_load_ps(ot + 0 * kTileQ + 16), al2);
  __m256 a10 = _mm256_mul_ps(_mm256_load_ps(ot + 1 * kTileQ + 0), al0);
  __m256 a11 = _mm256_mul_ps(_mm256_load_ps(ot + 1 * kTileQ + 8), al1);
  __m256 a12 = _mm256_mul_ps(_mm256_load_ps(ot + 1 * kTileQ + 16), al2);
  __m256 a20 = _mm256_mul_ps(_mm256_load_ps(ot + 2 * kTileQ + 0), al0);
  __m256 a21 = _mm256_mul_ps(_mm256_load_ps(ot + 2 * kTileQ + 8), al1);
  __m256 a22 = _mm256_mul_ps(_mm256_load_ps(ot + 2 * kTileQ + 16), al2);
  __m256 a30 = _mm256_mul_ps(_mm256_load_ps(ot + 3 * kTileQ + 0), al0);
  __m256 a31 = _mm256_mul_ps(_mm256_load_ps(ot + 3 * kTileQ + 8), al1);
  __m256 a32 = _mm256_mul_ps(_mm256_load_ps(ot + 3 * kTileQ + 16), al2);
  for (int64_t j = 0; j < jn; j++) {
    const __m256 p0 = _mm256_load_ps(pt + j * kTileQ);
    const __m256 p1 = _mm256_load_ps(pt + j * kTileQ + 8);
    const __m256 p2 = _mm256_load_ps(pt + j * kTileQ + 16);
    __m256 v = _mm256_broadcast_ss(vp + j * 4 + 0);
    a00 = _mm256_fmadd_ps(v, p0, a00);
    a01 = _mm256_fmadd_ps(v, p1, a01);
    a02 = _mm256_fmadd_ps(v, p2, a02);
    v = _mm256_broadcast_ss(vp + j * 4 + 1);
    a10 = _mm256_fmadd_ps(v, p0, a10);
    a11 = _mm256_fmadd_ps(v, p1, a11);
    a12 = _mm256_fmadd_ps(v, p2, a12);
    v = _mm256_broadcast_ss(vp + j * 4 + 2);
    a20 = _mm256_fmadd_ps(v, p0, a20);
    a21 = _mm256_fmadd_ps(v, p1, a21);
    a22 = _mm256_fmadd_ps(v, p2, a22);
    v = _mm256_broadcast_ss(vp + j * 4 + 3);
    a30 = _mm256_fmadd_ps(v, p0, a30);
    a31 = _mm256_fmadd_ps(v, p1, a31);
    a32 = _mm256_fmadd_ps(v, p2, a32);
  }
  _mm256_store_ps(ot + 0 * kTileQ + 0, a00);
  _mm256_store_ps(ot + 0 * kTileQ + 8, a01);
  _mm256_store_ps(ot + 0 * kTileQ + 16, a02);
  _mm256_store_ps(ot + 1 * kTileQ + 0, a10);
  _mm256_store_ps(ot + 1 * kTileQ + 8, a11);
  _mm256_store_ps(ot + 1 * kTileQ + 16, a12);
  _mm256_store_ps(ot + 2 * kTileQ + 0, a20);
  _mm256_store_ps(ot + 2 * kTileQ + 8, a21);
  _mm256_store_ps(ot + 2 * kTileQ + 16, a22);
  _mm256_store_ps(ot + 3 * kTileQ + 0, a30);
  _mm256_store_ps(ot + 3 * kTileQ + 8, a31);
  _mm256_store_ps(ot + 3 * kTileQ + 16, a32);
}

struct Plan {
  int64_t n, m, d, heads, offset;
  int64_t key_groups;  // ceil(m / 4)
  int64_t dim_groups;  // ceil(d / 4)
  int64_t tiles;       // ceil(n / kTileQ)
  int64_t kp_size, vp_size;
  const float* kp;     // [batch*heads][key_groups][d][4]
  const float* vp;     // [batch*heads][dim_groups][m][4]
};

// Packs K and V of (batch, head) pairs [begin, end).
HGC_AVX2 void pack_kv(const AttentionArgs& a, const Plan& p, float* kp_all, float* vp_all, int64_t begin,
                      int64_t end) {
  const int64_t m = p.m, d = p.d;
  for (int64_t bh = begin; bh < end; bh++) {
    const int64_t b = bh / p.heads, h = bh % p.heads;
    if (kp_all) {
      const float* kb = a.k + b * m * a.k_row_stride + h * d;
      float* kp = kp_all + bh * p.kp_size;
      for (int64_t g = 0; g < p.key_groups; g++) {
        float* dst = kp + g * d * 4;
        for (int64_t r = 0; r < 4; r++) {
          const int64_t j = g * 4 + r;
          if (j < m) {
            const float* src = kb + j * a.k_row_stride;
            for (int64_t c = 0; c < d; c++) dst[c * 4 + r] = src[c];
          } else {
            for (int64_t c = 0; c < d; c++) dst[c * 4 + r] = 0.0f;
          }
        }
      }
    }
    const float* vb = a.v + b * m * a.v_row_stride + h * d;
    float* vp = vp_all + bh * p.vp_size;
    for (int64_t j = 0; j < m; j++) {
      const float* src = vb + j * a.v_row_stride;
      for (int64_t g = 0; g < p.dim_groups; g++) {
        float* dst = vp + (g * m + j) * 4;
        for (int64_t r = 0; r < 4; r++) {
          const int64_t c = g * 4 + r;
          dst[r] = c < d ? src[c] : 0.0f;
        }
      }
    }
  }
}

struct TileScratch {
  float* qt;  // [d][kTileQ]
  float* st;  // [kBlockK][kTileQ]
  float* ot;  // [dim_groups*4][kTileQ]
};

// Scores of keys [j0, j0 + jn) (j0 a multiple of 4) for the tile at query i0, with the causal mask applied.
HGC_AVX2 inline void block_scores(const Plan& p, const float* kp, const float* qt, float* st, int64_t i0,
                                  int64_t j0, int64_t jn, bool causal) {
  const int64_t d = p.d;
  for (int64_t jj = 0; jj < jn; jj += 4) score_kernel(qt, kp + ((j0 + jj) >> 2) * d * 4, d, st + jj * kTileQ);
  if (causal && j0 + jn - 1 > i0 + p.offset) {
    // key j is hidden from query i when i < j - offset.
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 ninf = _mm256_set1_ps(kNegInf);
    for (int64_t jj = 0; jj < jn; jj++) {
      const int64_t thr = j0 + jj - p.offset - i0;  // relative to i0
      if (thr <= 0) continue;
      const __m256i t = _mm256_set1_epi32(static_cast<int>(std::min<int64_t>(thr, kTileQ + 1)));
      for (int64_t v = 0; v < 3; v++) {
        const __m256i iv = _mm256_add_epi32(lane, _mm256_set1_epi32(static_cast<int>(v * 8)));
        const __m256 hide = _mm256_castsi256_ps(_mm256_cmpgt_epi32(t, iv));
        float* s = st + jj * kTileQ + v * 8;
        _mm256_store_ps(s, _mm256_blendv_ps(_mm256_load_ps(s), ninf, hide));
      }
    }
  }
}

// Reference for exp2(s - ref): a running max of -inf (every key so far hidden) becomes 0, so those
// lanes get p = 0 instead of exp2(-inf - -inf) = NaN.
HGC_AVX2 inline __m256 max_ref(__m256 mx) {
  const __m256 hidden = _mm256_cmp_ps(mx, _mm256_set1_ps(kNegInf), _CMP_EQ_OQ);
  return _mm256_blendv_ps(mx, _mm256_setzero_ps(), hidden);
}

HGC_AVX2 inline __m256 block_max(const float* st, int64_t jn) {
  __m256 m0 = _mm256_set1_ps(kNegInf), m1 = m0;
  int64_t j = 0;
  for (; j + 1 < jn; j += 2) {
    m0 = _mm256_max_ps(m0, _mm256_load_ps(st + j * kTileQ));
    m1 = _mm256_max_ps(m1, _mm256_load_ps(st + (j + 1) * kTileQ));
  }
  if (j < jn) m0 = _mm256_max_ps(m0, _mm256_load_ps(st + j * kTileQ));
  return _mm256_max_ps(m0, m1);
}

// st[j][v-lanes] = exp2(st - mx); returns the sum over j.
HGC_AVX2 inline __m256 block_exp(float* st, int64_t jn, __m256 mx) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int64_t j = 0;
  for (; j + 1 < jn; j += 2) {
    const __m256 e0 = exp2_ps(_mm256_sub_ps(_mm256_load_ps(st + j * kTileQ), mx));
    const __m256 e1 = exp2_ps(_mm256_sub_ps(_mm256_load_ps(st + (j + 1) * kTileQ), mx));
    _mm256_store_ps(st + j * kTileQ, e0);
    _mm256_store_ps(st + (j + 1) * kTileQ, e1);
    s0 = _mm256_add_ps(s0, e0);
    s1 = _mm256_add_ps(s1, e1);
  }
  if (j < jn) {
    const __m256 e0 = exp2_ps(_mm256_sub_ps(_mm256_load_ps(st + j * kTileQ), mx));
    _mm256_store_ps(st + j * kTileQ, e0);
    s0 = _mm256_add_ps(s0, e0);
  }
  return _mm256_add_ps(s0, s1);
}

HGC_AVX2 inline void block_exp_scaled(float* st, int64_t jn, __m256 mx, __m256 mul) {
  for (int64_t j = 0; j < jn; j++) {
    const __m256 e = exp2_ps(_mm256_sub_ps(_mm256_load_ps(st + j * kTileQ), mx));
    _mm256_store_ps(st + j * kTileQ, _mm256_mul_ps(e, mul));
  }
}

HGC_AVX2 inline void block_pv(const Plan& p, const float* vp, const float* st, float* ot, int64_t j0, int64_t jn,
                              __m256 al0, __m256 al1, __m256 al2) {
  for (int64_t g = 0; g < p.dim_groups; g++)
    pv_kernel(st, vp + (g * p.m + j0) * 4, jn, ot + g * 4 * kTileQ, al0, al1, al2);
}

HGC_AVX2 inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5, __m256& r6,
                                __m256& r7) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r0 = _mm256_permute2f128_ps(u0, u4, 0x20);
  r1 = _mm256_permute2f128_ps(u1, u5, 0x20);
  r2 = _mm256_permute2f128_ps(u2, u6, 0x20);
  r3 = _mm256_permute2f128_ps(u3, u7, 0x20);
  r4 = _mm256_permute2f128_ps(u0, u4, 0x31);
  r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
  r6 = _mm256_permute2f128_ps(u2, u6, 0x31);
  r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// dst[c*ds + r] = src[r*ss + c] * scale * (col_scale ? col_scale[c] : 1) for r < rows, c < cols.
HGC_AVX2 inline void copy_transposed(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows,
                                     int64_t cols, float scale, const float* col_scale) {
  const __m256 sc = _mm256_set1_ps(scale);
  const bool unit = scale == 1.0f && col_scale == nullptr;
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      const float* s = src + r * ss + c;
      __m256 x0 = _mm256_loadu_ps(s + 0 * ss), x1 = _mm256_loadu_ps(s + 1 * ss);
      __m256 x2 = _mm256_loadu_ps(s + 2 * ss), x3 = _mm256_loadu_ps(s + 3 * ss);
      __m256 x4 = _mm256_loadu_ps(s + 4 * ss), x5 = _mm256_loadu_ps(s + 5 * ss);
      __m256 x6 = _mm256_loadu_ps(s + 6 * ss), x7 = _mm256_loadu_ps(s + 7 * ss);
      if (!unit) {
        const __m256 k = col_scale ? _mm256_mul_ps(sc, _mm256_loadu_ps(col_scale + c)) : sc;
        x0 = _mm256_mul_ps(x0, k);
        x1 = _mm256_mul_ps(x1, k);
        x2 = _mm256_mul_ps(x2, k);
        x3 = _mm256_mul_ps(x3, k);
        x4 = _mm256_mul_ps(x4, k);
        x5 = _mm256_mul_ps(x5, k);
        x6 = _mm256_mul_ps(x6, k);
        x7 = _mm256_mul_ps(x7, k);
      }
      transpose8(x0, x1, x2, x3, x4, x5, x6, x7);
      float* o = dst + c * ds + r;
      _mm256_storeu_ps(o + 0 * ds, x0);
      _mm256_storeu_ps(o + 1 * ds, x1);
      _mm256_storeu_ps(o + 2 * ds, x2);
      _mm256_storeu_ps(o + 3 * ds, x3);
      _mm256_storeu_ps(o + 4 * ds, x4);
      _mm256_storeu_ps(o + 5 * ds, x5);
      _mm256_storeu_ps(o + 6 * ds, x6);
      _mm256_storeu_ps(o + 7 * ds, x7);
    }
    for (; c < cols; c++) {
      const float k = col_scale ? scale * col_scale[c] : scale;
      for (int64_t rr = r; rr < r + 8; rr++) dst[c * ds + rr] = src[rr * ss + c] * k;
    }
  }
  for (; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[c * ds + r] = src[r * ss + c] * (col_scale ? scale * col_scale[c] : scale);
}

HGC_AVX2 void run_tiles(const AttentionArgs& a, const Plan& p, int64_t begin, int64_t end) {
  const int64_t n = p.n, m = p.m, d = p.d;
  Buffer qt_buf = alloc_floats(d * kTileQ), st_buf = alloc_floats(kBlockK * kTileQ);
  Buffer ot_buf = alloc_floats(p.dim_groups * 4 * kTileQ);
  float* qt = qt_buf.get();
  float* st = st_buf.get();
  float* ot = ot_buf.get();
  alignas(32) float mx[kTileQ], ls[kTileQ];
  const __m256 one = _mm256_set1_ps(1.0f);
  const float qscale = a.scale * kLog2e;

  for (int64_t task = begin; task < end; task++) {
    const int64_t bh = task / p.tiles, i0 = (task % p.tiles) * kTileQ;
    const int64_t b = bh / p.heads, h = bh % p.heads;
    const int64_t rows = std::min(kTileQ, n - i0);
    const float* vp = p.vp + bh * p.vp_size;
    std::memset(ot, 0, sizeof(float) * p.dim_groups * 4 * kTileQ);
    float* const out = a.out + b * n * a.out_row_stride + i0 * a.out_row_stride + h * d;

    if (a.mode == AttentionMode::Replay) {
      const float* prow = a.probs + (bh * n + i0) * m;
      for (int64_t j0 = 0; j0 < m; j0 += kBlockK) {
        const int64_t jn = std::min(kBlockK, m - j0);
        copy_transposed(prow + j0, m, st, kTileQ, rows, jn, 1.0f, nullptr);
        for (int64_t jj = 0; jj < jn; jj++)
          for (int64_t ii = rows; ii < kTileQ; ii++) st[jj * kTileQ + ii] = 0.0f;
        block_pv(p, vp, st, ot, j0, jn, one, one, one);
      }
      copy_transposed(ot, kTileQ, out, a.out_row_stride, d, rows, 1.0f, nullptr);
      continue;
    }

    // Pack the query tile transposed, with scale·log2(e) folded in; rows past n are zero.
    const float* qb = a.q + b * n * a.q_row_stride + i0 * a.q_row_stride + h * d;
    copy_transposed(qb, a.q_row_stride, qt, kTileQ, rows, d, qscale, nullptr);
    for (int64_t c = 0; c < d; c++)
      for (int64_t ii = rows; ii < kTileQ; ii++) qt[c * kTileQ + ii] = 0.0f;
    const float* kp = p.kp + bh * p.kp_size;
    const int64_t jend = a.causal ? std::min<int64_t>(m, std::max<int64_t>(0, i0 + rows - 1 + p.offset + 1)) : m;
    for (int64_t ii = 0; ii < kTileQ; ii++) {
      mx[ii] = kNegInf;
      ls[ii] = 0.0f;
    }

    const bool capture = a.mode == AttentionMode::Capture;
    for (int64_t j0 = 0; j0 < jend; j0 += kBlockK) {
      const int64_t jn = std::min(kBlockK, jend - j0);
      block_scores(p, kp, qt, st, i0, j0, jn, a.causal);
      __m256 al[3];
      for (int64_t v = 0; v < 3; v++) {
        const __m256 mold = _mm256_load_ps(mx + v * 8);
        const __m256 mnew = _mm256_max_ps(block_max(st + v * 8, jn), mold);
        // alpha = exp2(mold - mnew); the first block gives exp2(-inf) = 0.
        const __m256 ref = max_ref(mnew);
        al[v] = exp2_ps(_mm256_sub_ps(mold, ref));
        const __m256 sum = block_exp(st + v * 8, jn, ref);
        _mm256_store_ps(mx + v * 8, mnew);
        _mm256_store_ps(ls + v * 8, _mm256_fmadd_ps(_mm256_load_ps(ls + v * 8), al[v], sum));
      }
      if (!capture) block_pv(p, vp, st, ot, j0, jn, al[0], al[1], al[2]);
    }

    alignas(32) float inv[kTileQ];
    for (int64_t ii = 0; ii < kTileQ; ii++) inv[ii] = safe_recip(ls[ii]);
    if (!capture) {
      copy_transposed(ot, kTileQ, out, a.out_row_stride, d, rows, 1.0f, inv);
      continue;
    }

    // Capture, second pass: exact probabilities, written out and used for O directly.
    float* prow = a.probs + (bh * n + i0) * m;
    for (int64_t j0 = 0; j0 < jend; j0 += kBlockK) {
      const int64_t jn = std::min(kBlockK, jend - j0);
      block_scores(p, kp, qt, st, i0, j0, jn, a.causal);
      for (int64_t v = 0; v < 3; v++)
        block_exp_scaled(st + v * 8, jn, max_ref(_mm256_load_ps(mx + v * 8)), _mm256_load_ps(inv + v * 8));
      copy_transposed(st, kTileQ, prow + j0, m, jn, rows, 1.0f, nullptr);
      block_pv(p, vp, st, ot, j0, jn, one, one, one);
    }
    for (int64_t ii = 0; ii < rows; ii++) std::fill(prow + ii * m + jend, prow + ii * m + m, 0.0f);
    copy_transposed(ot, kTileQ, out, a.out_row_stride, d, rows, 1.0f, nullptr);
  }
}

void attention_avx2(const AttentionArgs& a) {
  Plan p;
  p.n = a.n;
  p.m = a.m;
  p.d = a.head_dim;
  p.heads = a.heads;
  p.offset = a.m - a.n;
  p.key_groups = (a.m + 3) / 4;
  p.dim_groups = (a.head_dim + 3) / 4;
  p.tiles = (a.n + kTileQ - 1) / kTileQ;
  const bool replay = a.mode == AttentionMode::Replay;
  p.kp_size = replay ? 0 : p.key_groups * p.d * 4;
  p.vp_size = p.dim_groups * p.m * 4;
  const int64_t bh_count = a.batch * a.heads;
  Buffer kp = replay ? Buffer() : alloc_floats(bh_count * p.kp_size);
  Buffer vp = alloc_floats(bh_count * p.vp_size);
  p.kp = kp.get();
  p.vp = vp.get();
  parallel_for(bh_count, 1, [&](int64_t begin, int64_t end) { pack_kv(a, p, kp.get(), vp.get(), begin, end); });
  parallel_for(bh_count * p.tiles, 1, [&](int64_t begin, int64_t end) { run_tiles(a, p, begin, end); });
}

bool cpu_has_avx2_fma() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
}

#endif  // HGC_ATTENTION_X86

}  // namespace

void attention(const AttentionArgs& args) {
  if (args.batch <= 0 || args.heads <= 0 || args.n <= 0 || args.head_dim <= 0) return;
  if (args.m <= 0) {  // no keys: define the result as zeros
    for (int64_t b = 0; b < args.batch; b++)
      for (int64_t i = 0; i < args.n; i++)
        std::fill(args.out + (b * args.n + i) * args.out_row_stride,
                  args.out + (b * args.n + i) * args.out_row_stride + args.heads * args.head_dim, 0.0f);
    return;
  }
#if defined(HGC_ATTENTION_X86)
  if (cpu_has_avx2_fma()) {
    attention_avx2(args);
    return;
  }
#endif
  attention_scalar(args);
}

}  // namespace hgc::cpu
