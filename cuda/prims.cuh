// Warp and tensor-core primitives: the only file with inline PTX (DESIGN.md seam). Kernels call these and
// nothing else for warp shuffles, ballots, warp reductions, mma.sync, ldmatrix and cp.async.
//
// Two builds of the same functions:
//   - nvcc (sm_80+): intrinsics / inline PTX, under `#if defined(__CUDA_ARCH__)`;
//   - the cuda-sim build (g++, HGC_SIM): collective emulations in cuda/sim/ that rendezvous the lanes of one
//     warp, check that the mask equals the lanes that arrive, and apply the layouts documented here.
// The layouts below are the contract between the two builds (checked against the PTX ISA's fragment tables);
// test/cuda-sim-prims.test.ts checks the simulator side against them, and the kernels built on these
// primitives check the device side when their tests run on a GPU (`npm run test:gpu`).
//
// Notation: lane = linear thread index % 32; g = lane / 4 ("groupID"); t = lane % 4 ("thread in group").
// A packed b32 register holds two 16-bit values: the low half has the lower column (or k) index.
#pragma once
#include <cstdint>

#if defined(HGC_SIM)
#include "sim/warp.h"
#endif

namespace hgc::prims {

// ---------------------------------------------------------------------------------------------------------
// Thread position in the warp.

__device__ __forceinline__ unsigned linear_thread_index() {
  return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
__device__ __forceinline__ unsigned lane_id() { return linear_thread_index() % 32u; }
__device__ __forceinline__ unsigned warp_id() { return linear_thread_index() / 32u; }

// Waits until every lane in `mask` has reached a sync_warp with the same mask (bar.warp.sync).
__device__ __forceinline__ void sync_warp(unsigned mask = 0xffffffffu) {
#if defined(HGC_SIM)
  sim::sync_warp(mask);
#elif defined(__CUDA_ARCH__)
  __syncwarp(mask);
#endif
}

// ---------------------------------------------------------------------------------------------------------
// Shuffles, __shfl_*_sync semantics. `width` (a power of two <= 32) splits the warp into segments of `width`
// lanes; a source outside the caller's segment (or below it for shfl_up / above it for shfl_down) yields
// the caller's own value. shfl_xor may read an earlier segment but not a later one, as in CUDA.

#define HGC_PRIMS_SHUFFLES(T)                                                                               \
  __device__ __forceinline__ T shfl_xor(unsigned mask, T v, int lane_mask, int width = 32) {                \
    HGC_PRIMS_SHFL(xor_, __shfl_xor_sync, mask, v, lane_mask, width);                                        \
  }                                                                                                         \
  __device__ __forceinline__ T shfl_down(unsigned mask, T v, unsigned delta, int width = 32) {              \
    HGC_PRIMS_SHFL(down, __shfl_down_sync, mask, v, delta, width);                                          \
  }                                                                                                         \
  __device__ __forceinline__ T shfl_up(unsigned mask, T v, unsigned delta, int width = 32) {                \
    HGC_PRIMS_SHFL(up, __shfl_up_sync, mask, v, delta, width);                                              \
  }                                                                                                         \
  __device__ __forceinline__ T shfl_idx(unsigned mask, T v, int src_lane, int width = 32) {                 \
    HGC_PRIMS_SHFL(idx, __shfl_sync, mask, v, src_lane, width);                                             \
  }

#if defined(HGC_SIM)
#define HGC_PRIMS_SHFL(mode, intrinsic, mask, v, b, width) \
  return sim::shuffle(sim::ShflMode::mode, mask, v, static_cast<int>(b), width)
#elif defined(__CUDA_ARCH__)
#define HGC_PRIMS_SHFL(mode, intrinsic, mask, v, b, width) return intrinsic(mask, v, b, width)
#else
#define HGC_PRIMS_SHFL(mode, intrinsic, mask, v, b, width) return v
#endif

HGC_PRIMS_SHUFFLES(float)
HGC_PRIMS_SHUFFLES(int)
HGC_PRIMS_SHUFFLES(unsigned)
#undef HGC_PRIMS_SHUFFLES
#undef HGC_PRIMS_SHFL

// Bit i set when lane i is in `mask` and its pred is true. Every lane in `mask` must call it.
__device__ __forceinline__ unsigned ballot(unsigned mask, bool pred) {
#if defined(HGC_SIM)
  return sim::ballot(mask, pred);
#elif defined(__CUDA_ARCH__)
  return __ballot_sync(mask, pred);
#else
  return 0u;
#endif
}

// Warp reductions: all 32 lanes participate, every lane gets the result. XOR butterfly over offsets
// 16, 8, 4, 2, 1, so the summation order is the same on every lane (and in both builds).
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += shfl_xor(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, shfl_xor(0xffffffffu, v, o));
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// Tensor cores: mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32, D = A·B + C, all 32 lanes.
// (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type".)
//
//   A, 16×16 (M×K), row-major in registers: a[4] packed pairs, element pairs (row, k..k+1):
//     a[0] = A[g    ][2t   .. 2t+1]     a[1] = A[g + 8][2t   .. 2t+1]
//     a[2] = A[g    ][2t+8 .. 2t+9]     a[3] = A[g + 8][2t+8 .. 2t+9]
//   B, 16×8 (K×N), "col": b[2] packed pairs (k..k+1, column n):
//     b[0] = B[2t   .. 2t+1][g]         b[1] = B[2t+8 .. 2t+9][g]
//   C and D, 16×8 f32: c[4] / d[4]
//     c[0] = C[g][2t]   c[1] = C[g][2t+1]   c[2] = C[g+8][2t]   c[3] = C[g+8][2t+1]
// So a lane's C/D pair (row g, columns 2t, 2t+1) is the natural target of a row of A times B's column pair,
// and an 8×8 ldmatrix tile (below) gives exactly one A or B register per lane.
// The simulator accumulates in f32 in k order (products of halves are exact in f32); hardware may sum in
// another order, so compare with a tolerance.

__device__ __forceinline__ void mma_m16n8k16_f16(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                 const float c[4]) {
#if defined(HGC_SIM)
  sim::mma_m16n8k16(sim::MmaType::F16, d, a, b, c);
#elif defined(__CUDA_ARCH__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#endif
}

__device__ __forceinline__ void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                  const float c[4]) {
#if defined(HGC_SIM)
  sim::mma_m16n8k16(sim::MmaType::BF16, d, a, b, c);
#elif defined(__CUDA_ARCH__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#endif
}

// ---------------------------------------------------------------------------------------------------------
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}[.trans].shared.b16: loads 1, 2 or 4 8×8 matrices of 16-bit values
// from shared memory, all 32 lanes. Lane 8i + r passes the address of row r of matrix i (16 contiguous
// bytes, 16-byte aligned); for x1 only lanes 0-7 and for x2 only lanes 0-15 are read, but every lane calls.
//   plain:  r[i] of lane L = M_i[L/4][2(L%4) .. 2(L%4)+1]                (row L/4, a column pair)
//   .trans: r[i] of lane L = (M_i[2(L%4)][L/4], M_i[2(L%4)+1][L/4])     (the same of M_i transposed)
// With the mma layout above: an x4 of a row-major 16×16 A tile (matrices: rows 0-7/k 0-7, rows 8-15/k 0-7,
// rows 0-7/k 8-15, rows 8-15/k 8-15) yields a[0..3]; B stored k-major (row k, n contiguous) needs .trans,
// B stored n-major (row n, k contiguous) loads plain.

#if defined(HGC_SIM)
#define HGC_PRIMS_LDMATRIX(n, trans, asm_text, ...) sim::ldmatrix(n, trans, r, smem_row)
#elif defined(__CUDA_ARCH__)
#define HGC_PRIMS_LDMATRIX(n, trans, asm_text, ...)                                                  \
  asm volatile(asm_text : __VA_ARGS__ : "r"(static_cast<uint32_t>(__cvta_generic_to_shared(smem_row))) \
                        : "memory")
#else
#define HGC_PRIMS_LDMATRIX(n, trans, asm_text, ...) (void)0
#endif

__device__ __forceinline__ void ldmatrix_x1(uint32_t r[1], const void* smem_row) {
  HGC_PRIMS_LDMATRIX(1, false, "ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n", "=r"(r[0]));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t r[2], const void* smem_row) {
  HGC_PRIMS_LDMATRIX(2, false, "ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n", "=r"(r[0]),
                     "=r"(r[1]));
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* smem_row) {
  HGC_PRIMS_LDMATRIX(4, false, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n",
                     "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]));
}
__device__ __forceinline__ void ldmatrix_x1_trans(uint32_t r[1], const void* smem_row) {
  HGC_PRIMS_LDMATRIX(1, true, "ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n", "=r"(r[0]));
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t r[2], const void* smem_row) {
  HGC_PRIMS_LDMATRIX(2, true, "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n",
                     "=r"(r[0]), "=r"(r[1]));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* smem_row) {
  HGC_PRIMS_LDMATRIX(4, true, "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n",
                     "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]));
}
#undef HGC_PRIMS_LDMATRIX

// ---------------------------------------------------------------------------------------------------------
// cp.async (global → shared, sm_80+), per thread. Copies issued since the last commit form a group;
// cp_async_wait<N>() returns once at most N of this thread's committed groups are still in flight, and
// cp_async_wait_all() commits and waits for everything. Other threads see the data only after the wait and
// a barrier. `valid == false` writes zeros and reads nothing (src-size 0), for out-of-range tiles.
// The simulator performs each copy only when a wait covers it, so a missing wait reads stale (NaN) data.

__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid = true) {
#if defined(HGC_SIM)
  sim::cp_async(smem, gmem, 16, valid);
#elif defined(__CUDA_ARCH__)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(
                   static_cast<uint32_t>(__cvta_generic_to_shared(smem))),
               "l"(gmem), "r"(valid ? 16 : 0)
               : "memory");
#endif
}

__device__ __forceinline__ void cp_async_4(void* smem, const void* gmem, bool valid = true) {
#if defined(HGC_SIM)
  sim::cp_async(smem, gmem, 4, valid);
#elif defined(__CUDA_ARCH__)
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(
                   static_cast<uint32_t>(__cvta_generic_to_shared(smem))),
               "l"(gmem), "r"(valid ? 4 : 0)
               : "memory");
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(HGC_SIM)
  sim::cp_async_commit();
#elif defined(__CUDA_ARCH__)
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  static_assert(N >= 0, "cp_async_wait<N>: N is a count of groups");
#if defined(HGC_SIM)
  sim::cp_async_wait(N);
#elif defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

__device__ __forceinline__ void cp_async_wait_all() {
#if defined(HGC_SIM)
  sim::cp_async_commit();
  sim::cp_async_wait(0);
#elif defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

}  // namespace hgc::prims
