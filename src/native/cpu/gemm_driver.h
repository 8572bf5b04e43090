// The GEMM driver's entry points shared by gemm.cc (which defines them) and conv2d.cc (which feeds it an
// implicit im2col operand and packs weight panels for its direct 3×3 kernel).
#pragma once
#include <cstdint>

#include "hgc/op_args.h"

namespace hgc::cpu::detail {

// Packs rows [k0, k0+kc) and columns [n0, n0+nr) (nr <= 16) of an implicit K x N matrix into
// dst[k*16 + j], with zeros for j >= nr. Must be safe to call from several threads at once.
using PackBFn = void (*)(const void* ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nr, float* dst);

// C = act(A·B + bias_n[col] + bias_m[row]) + residual, with B given as a matrix or through pack_b.
void gemm_ex(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a, const float* b,
             int64_t ldb, bool trans_b, PackBFn pack_b, const void* pack_ctx, float* c, int64_t ldc,
             const float* bias_n, const float* bias_m, const float* residual, int64_t ldr, Activation act,
             bool parallel);

// Packs rows [0, mc) × k [0, kc) of a row-major A into the microkernel's MR-row sliver layout.
void pack_a_panel(const float* a, int64_t lda, int64_t mc, int64_t kc, float* dst);

// The microkernel of this CPU (AVX2+FMA or portable): C[kMicroRows × kMicroCols] (ldc) = A·B, plus C's old
// values when `accumulate`, with A an MR-row sliver (a[p * kMicroRows + r]) and B a 16-column sliver
// (b[p * kMicroCols + j]), p < kc. Used by conv_winograd.cc, whose transforms write both operands in these
// layouts.
constexpr int64_t kMicroRows = 6;
constexpr int64_t kMicroCols = 16;
using MicroKernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate);
MicroKernelFn microkernel();

}  // namespace hgc::cpu::detail
