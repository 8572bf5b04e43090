// Counter-based random numbers (Philox4x32-10) shared by every backend, so that randn(shape, {seed})
// gives the same numbers on the CPU and the GPU. Element i uses counter block i / 4 and lane i % 4;
// normals come from Box-Muller on pairs of lanes, evaluated in double so backends agree to the last bit
// of the float result in all but vanishingly rare cases.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define HGC_HD __host__ __device__
#else
#define HGC_HD
#endif

namespace hgc {

struct Philox4 {
  uint32_t v[4];
};

HGC_HD inline void philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

HGC_HD inline Philox4 philox4x32_10(uint64_t counter, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; round++) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c0, &hi0, &lo0);
    philox_mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in (0, 1]: never 0, so log() below is finite.
HGC_HD inline double philox_uniform(uint32_t x) { return (static_cast<double>(x) + 1.0) * (1.0 / 4294967296.0); }

// The i-th standard normal of the stream identified by `seed`.
HGC_HD inline float philox_normal(uint64_t i, uint64_t seed) {
  Philox4 r = philox4x32_10(i / 4, seed);
  unsigned lane = static_cast<unsigned>(i % 4);
  unsigned pair = lane & ~1u;
  double radius = sqrt(-2.0 * log(philox_uniform(r.v[pair])));
  double angle = 6.283185307179586 * philox_uniform(r.v[pair + 1]);
  return static_cast<float>((lane & 1u) ? radius * sin(angle) : radius * cos(angle));
}

}  // namespace hgc
