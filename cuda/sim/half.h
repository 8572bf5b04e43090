// __half / __nv_bfloat16 for the simulator: 16-bit storage types with the conversion intrinsics of the
// contract, all round-to-nearest-even in software (bit-exact with the device's cvt.rn). A NaN converts to
// the canonical NaN 0x7fff, as cvt.rn.f16.f32 / cvt.rn.bf16.f32 do on the GPU.
#pragma once
#include <cstdint>

#include "hgc/dtype.h"

namespace hgc::sim {

using hgc::f32_bits;
using hgc::f32_from_bits;

struct __half { uint16_t x; };
struct __half2 { __half x, y; };
struct __nv_bfloat16 { uint16_t x; };
struct __nv_bfloat162 { __nv_bfloat16 x, y; };

uint16_t f32_to_f16_rn(float f);
float f16_to_f32(uint16_t h);

inline uint16_t f32_to_bf16_rn(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline __half __float2half_rn(float f) { return __half{f32_to_f16_rn(f)}; }
inline __half __float2half(float f) { return __float2half_rn(f); }
inline float __half2float(__half h) { return f16_to_f32(h.x); }
inline unsigned short __half_as_ushort(__half h) { return h.x; }
inline __half __ushort_as_half(unsigned short u) { return __half{u}; }
inline __half2 __floats2half2_rn(float lo, float hi) { return __half2{__float2half_rn(lo), __float2half_rn(hi)}; }
inline float __low2float(__half2 h) { return __half2float(h.x); }
inline float __high2float(__half2 h) { return __half2float(h.y); }

inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{f32_to_bf16_rn(f)}; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return f32_from_bits(uint32_t(h.x) << 16); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16{u}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
  return __nv_bfloat162{__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}
inline float __low2float(__nv_bfloat162 h) { return __bfloat162float(h.x); }
inline float __high2float(__nv_bfloat162 h) { return __bfloat162float(h.y); }

inline unsigned __float_as_uint(float f) { return f32_bits(f); }
inline float __uint_as_float(unsigned u) { return f32_from_bits(u); }
inline int __float_as_int(float f) { return static_cast<int>(f32_bits(f)); }
inline float __int_as_float(int i) { return f32_from_bits(static_cast<uint32_t>(i)); }

}  // namespace hgc::sim

using hgc::sim::__half;
using hgc::sim::__half2;
using hgc::sim::__nv_bfloat16;
using hgc::sim::__nv_bfloat162;
using half = hgc::sim::__half;
using half2 = hgc::sim::__half2;
using hgc::sim::__bfloat162float;
using hgc::sim::__bfloat16_as_ushort;
using hgc::sim::__float2bfloat16;
using hgc::sim::__float2bfloat16_rn;
using hgc::sim::__float2half;
using hgc::sim::__float2half_rn;
using hgc::sim::__float_as_int;
using hgc::sim::__float_as_uint;
using hgc::sim::__floats2bfloat162_rn;
using hgc::sim::__floats2half2_rn;
using hgc::sim::__half2float;
using hgc::sim::__half_as_ushort;
using hgc::sim::__high2float;
using hgc::sim::__int_as_float;
using hgc::sim::__low2float;
using hgc::sim::__uint_as_float;
using hgc::sim::__ushort_as_bfloat16;
using hgc::sim::__ushort_as_half;
