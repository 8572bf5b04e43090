// Warp collectives of the simulator, called only from cuda/prims.cuh. Each one is a rendezvous of the lanes
// named by its mask (lanes of one warp only): the lane records its inputs and yields; when every lane of the
// mask has arrived at the same collective the runner computes all results at once (with the fragment layouts
// documented in prims.cuh) and resumes the lanes. A lane outside its own mask, a mask naming lanes that do not
// exist, lanes arriving with different masks or at a different collective, or lanes that never arrive (they
// exited or wait at __syncthreads) are errors naming the kernel.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hgc::sim {

enum class ShflMode { idx, up, down, xor_ };
enum class MmaType { F16, BF16 };

void sync_warp(unsigned mask);
uint32_t shuffle_bits(ShflMode mode, unsigned mask, uint32_t v, int b, int width);
unsigned ballot(unsigned mask, bool pred);
void mma_m16n8k16(MmaType type, float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
void ldmatrix(int count, bool trans, uint32_t* r, const void* smem_row);

// cp.async: queued per thread; applied by cp_async_wait for the groups it covers.
void cp_async(void* smem, const void* gmem, int bytes, bool valid);
void cp_async_commit();
void cp_async_wait(int pending_groups);

inline float shuffle(ShflMode mode, unsigned mask, float v, int b, int width) {
  uint32_t u;
  __builtin_memcpy(&u, &v, 4);
  u = shuffle_bits(mode, mask, u, b, width);
  __builtin_memcpy(&v, &u, 4);
  return v;
}
inline int shuffle(ShflMode mode, unsigned mask, int v, int b, int width) {
  return static_cast<int>(shuffle_bits(mode, mask, static_cast<uint32_t>(v), b, width));
}
inline unsigned shuffle(ShflMode mode, unsigned mask, unsigned v, int b, int width) {
  return shuffle_bits(mode, mask, v, b, width);
}

}  // namespace hgc::sim
