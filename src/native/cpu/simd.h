// Helpers for the CPU element-wise kernels: a multiversioning attribute so plain loops get an AVX2 clone
// (picked at load time; the default clone runs on any x86-64 or other CPU), and a branch-free exp that
// the compiler can vectorise (std::exp cannot be), accurate to about 2 ulp over the float range.
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
  const float hi = 88.72283935546875f, lo = -87.3365478515625f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  float kf = std::nearbyint(xc * 1.44269504088896341f);
  float r = xc - kf * 0.693359375f;
  r = r - kf * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^k as two factors so that k = 128 (near FLT_MAX) and k = −126 stay representable.
  int32_t k = static_cast<int32_t>(kf);
  int32_t k1 = k >> 1, k2 = k - k1;
  uint32_t bits1 = static_cast<uint32_t>(k1 + 127) << 23, bits2 = static_cast<uint32_t>(k2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &bits1, 4);
  std::memcpy(&s2, &bits2, 4);
  float y = p * s1 * s2;
  // Out-of-range and NaN inputs: exp overflows to inf, underflows to 0, NaN stays NaN.
  y = x > hi ? INFINITY : y;
  y = x < lo ? 0.0f : y;
  return x != x ? x : y;
}

inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

}  // namespace hgc::cpu
