// Helpers for the CPU element-wise kernels: a multiversioning attribute so plain loops get an AVX2 clone
// (picked at load time; the default clone runs on any x86-64 or other CPU), and a branch-free exp that
// the compiler can vectorise (std::exp cannot be), accurate to about 2 ulp over the float range. Needs the
// default rounding mode and no -ffast-math (which could fold the magic-number rounding away).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(HGC_NO_CLONES)
#define HGC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HGC_CLONES
#endif

namespace hgc::cpu {

inline float exp_fast(float x) {
  // exp(x) = 2^k · exp(r), r = x − k·ln2 ∈ [−ln2/2, ln2/2]; exp(r) by a degree-6 Taylor/minimax polynomial.
  //
  // Written so that GCC vectorises loops that call it without -ffast-math. Two things stop that: a libm
  // call (std::nearbyint), and a float select whose arms lead to different float work, e.g. a clamp to a
  // constant, which jump threading turns into a branch holding a (possibly trapping) multiply that
  // if-conversion then refuses to speculate. So k = round(x·log2e) comes from adding and subtracting
  // 1.5·2^23 (for |x·log2e| < 2^22 the sum has an ulp of 1 and the FPU's round-to-nearest does the
  // rounding), and the range checks and selects are done on the bit patterns as integers, which cannot trap.
  const uint32_t hi_bits = 0x42B17218u;  // 88.72283935546875f = 128·ln2 (rounded): above, exp overflows
  const uint32_t lo_bits = 0xC2AEAC50u;  // -87.3365478515625f = -126·ln2 (rounded): below, exp is subnormal
  const uint32_t inf_bits = 0x7F800000u;
  uint32_t xb;
  std::memcpy(&xb, &x, 4);
  // x > hi (up to +inf) and x < lo (down to -inf); NaN is neither. The sign bit decides which side a
  // pattern can be on, and within one sign the bit patterns are ordered like the magnitudes.
  const uint32_t big = uint32_t(xb > hi_bits) & uint32_t(xb <= inf_bits);
  const uint32_t small = uint32_t(xb > lo_bits) & uint32_t(xb <= (inf_bits | 0x80000000u));
  const uint32_t big_m = 0u - big, small_m = 0u - small;
  const uint32_t cb = (xb & ~(big_m | small_m)) | (hi_bits & big_m) | (lo_bits & small_m);
  float xc;  // x clamped to [lo, hi]; NaN stays NaN
  std::memcpy(&xc, &cb, 4);
  const float magic = 12582912.0f;  // 1.5 · 2^23
  const float s = xc * 1.44269504088896341f + magic;
  const float kf = s - magic;
  float r = xc - kf * 0.693359375f;
  r = r - kf * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t sb, mb;
  std::memcpy(&sb, &s, 4);
  std::memcpy(&mb, &magic, 4);
  // k = kf in [-126, 128] for finite xc; the clamps only matter for NaN, whose result is NaN anyway.
  int32_t k = static_cast<int32_t>(sb - mb);
  k = k < -126 ? -126 : k;
  k = k > 128 ? 128 : k;
  // 2^k as two factors so that k = 128 (near FLT_MAX) and k = -126 stay representable. Out of range, one
  // factor becomes inf (overflow) or 0 (underflow); p is then finite and positive, so y is inf or 0.
  const int32_t k1 = k >> 1, k2 = k - k1;
  const uint32_t bits1 = ((static_cast<uint32_t>(k1 + 127) << 23) & ~small_m);
  const uint32_t bits2 = ((static_cast<uint32_t>(k2 + 127) << 23) & ~big_m) | (inf_bits & big_m);
  float s1, s2;
  std::memcpy(&s1, &bits1, 4);
  std::memcpy(&s2, &bits2, 4);
  return p * s1 * s2;
}

inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

}  // namespace hgc::cpu
