// f32 <-> f16 conversions of the simulator: round to nearest, ties to even, with subnormals, infinities and
// the device's canonical NaN (0x7fff).
#include "half.h"

namespace hgc::sim {

uint16_t f32_to_f16_rn(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return 0x7fffu;
  if (abs >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65536 or infinity
  // (65520 <= |f| < 65536 rounds up into the infinity encoding in the normal path below.)
  if (abs >= 0x38800000u) {  // normal half range (>= 2^-14)
    uint32_t mant = abs + 0xc8000000u;  // rebias exponent: (e - 127 + 15) << 23
    uint32_t rounded = (mant + 0x0fffu + ((mant >> 13) & 1u)) >> 13;
    return static_cast<uint16_t>(sign | rounded);  // a carry into the exponent (up to infinity) is correct
  }
  if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
  // Subnormal half: value = m * 2^-24 with m < 1024.
  const uint32_t e = abs >> 23;
  const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // |f| = m * 2^(e-150) and the unit is 2^-24: shift by 126 - e (14..24)
  uint32_t result = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1);
  if (rem > halfway || (rem == halfway && (result & 1u))) result++;
  return static_cast<uint16_t>(sign | result);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return bits_float(sign | 0x7f800000u | (m << 13));
  if (e != 0) return bits_float(sign | ((e + 112u) << 23) | (m << 13));
  if (m == 0) return bits_float(sign);
  // Subnormal: normalise.
  uint32_t exp = 113, mm = m;
  while (!(mm & 0x400u)) {
    mm <<= 1;
    exp--;
  }
  return bits_float(sign | (exp << 23) | ((mm & 0x3ffu) << 13));
}

}  // namespace hgc::sim
