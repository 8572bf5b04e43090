// f32 <-> f16 conversions of the simulator: the host's round-to-nearest-even conversions (include/hgc/dtype.h),
// except that a NaN becomes the device's canonical NaN (0x7fff), as cvt.rn.f16.f32 gives on the GPU.
#include "half.h"

#include "hgc/dtype.h"

namespace hgc::sim {

uint16_t f32_to_f16_rn(float f) { return f != f ? uint16_t(0x7fffu) : hgc::f32_to_f16(f); }

float f16_to_f32(uint16_t h) { return hgc::f16_to_f32(h); }

}  // namespace hgc::sim
