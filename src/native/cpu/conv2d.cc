// NCHW 2-D convolution as a GEMM per image: y[cout, oh*ow] = W[cout, cin*kh*kw] · col[cin*kh*kw, oh*ow].
// The im2col matrix is never materialised: the GEMM driver (gemm.cc) asks for one 16-column B sliver at a
// time and pack_im2col() gathers it straight from the image into the packed layout, so the only scratch is
// the driver's bounded KC x NC panel. A 1x1 / stride-1 / no-padding convolution is a plain GEMM on x.
// Bias is per output channel (a per-row bias of the GEMM) and the residual is fused into the epilogue.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

#include "kernels.h"
#include "conv_paths.h"
#include "gemm_driver.h"
#include "scratch.h"
#include "thread_pool.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(HGC_GEMM_PORTABLE_ONLY)
#define HGC_CONV_X86 1
#include <immintrin.h>
#define HGC_AVX2 __attribute__((target("avx2,fma")))
#else
#define HGC_CONV_X86 0
#endif

namespace hgc::cpu {

namespace {

constexpr int64_t NR = 16;  // sliver width of the GEMM driver

struct Im2col {
  const float* x;  // one image [cin, h, w]
  int64_t h, w, kh, kw, stride, pad, ow;
};

// dst[p*16 + j] = col[k0 + p, n0 + j] for j < nr, 0 for j >= nr; col[(ci, ky, kx), (oy, ox)] =
// x[ci, oy*stride - pad + ky, ox*stride - pad + kx] (0 outside the image).
void pack_im2col(const void* vctx, int64_t k0, int64_t kc, int64_t n0, int64_t nr, float* dst) {
  const Im2col& g = *static_cast<const Im2col*>(vctx);
  const int64_t hw = g.h * g.w, s = g.stride;
  // Output position of each column of the sliver.
  int64_t iy0[NR], ix0[NR];
  for (int64_t j = 0; j < nr; j++) {
    int64_t oy = (n0 + j) / g.ow, ox = (n0 + j) % g.ow;
    iy0[j] = oy * s - g.pad;
    ix0[j] = ox * s - g.pad;
  }
  const bool one_row = iy0[0] == iy0[nr - 1];  // all columns come from the same output row
  const int64_t khw = g.kh * g.kw;
  int64_t ci = k0 / khw, rem = k0 % khw, ky = rem / g.kw, kx = rem % g.kw;
  for (int64_t p = 0; p < kc; p++) {
    float* d = dst + p * NR;
    const float* plane = g.x + ci * hw;
    if (one_row) {
      const int64_t iy = iy0[0] + ky;
      if (iy < 0 || iy >= g.h) {
        std::memset(d, 0, sizeof(float) * NR);
      } else {
        const float* row = plane + iy * g.w;
        const int64_t xs = ix0[0] + kx;  // input column of j = 0; column j reads xs + j*s
        // valid j: 0 <= xs + j*s < w
        int64_t jlo = xs >= 0 ? 0 : (-xs + s - 1) / s;
        int64_t jhi = xs >= g.w ? 0 : std::min(nr, (g.w - xs + s - 1) / s);
        if (jlo > jhi) jlo = jhi;
        if (s == 1) {
          if (jlo == 0 && jhi == NR) {
            std::memcpy(d, row + xs, sizeof(float) * NR);
          } else {
            for (int64_t j = 0; j < jlo; j++) d[j] = 0.0f;
            if (jhi > jlo) std::memcpy(d + jlo, row + xs + jlo, sizeof(float) * (jhi - jlo));
            for (int64_t j = jhi; j < NR; j++) d[j] = 0.0f;
          }
        } else {
          for (int64_t j = 0; j < jlo; j++) d[j] = 0.0f;
          const float* src = row + xs;
          for (int64_t j = jlo; j < jhi; j++) d[j] = src[j * s];
          for (int64_t j = jhi; j < NR; j++) d[j] = 0.0f;
        }
      }
    } else {
      for (int64_t j = 0; j < nr; j++) {
        int64_t iy = iy0[j] + ky, ix = ix0[j] + kx;
        d[j] = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) ? plane[iy * g.w + ix] : 0.0f;
      }
      for (int64_t j = nr; j < NR; j++) d[j] = 0.0f;
    }
    if (++kx == g.kw) {
      kx = 0;
      if (++ky == g.kh) {
        ky = 0;
        ci++;
      }
    }
  }
}

#if HGC_CONV_X86
// Stride-1 version of pack_im2col with AVX2. The 16 columns of a sliver split into runs that share an
// output row; for each k a run is one (masked) load of consecutive input pixels: lanes outside the run or
// outside the image are masked off, so they read nothing and come back as 0.
HGC_AVX2 void pack_im2col_s1_avx2(const void* vctx, int64_t k0, int64_t kc, int64_t n0, int64_t nr, float* dst) {
  const Im2col& g = *static_cast<const Im2col*>(vctx);
  const int64_t hw = g.h * g.w;
  struct Run {
    int64_t j0, j1, iy, ix;  // lanes [j0, j1), input row / column of lane j0 before adding (ky, kx)
  };
  Run runs[NR];
  int nruns = 0;
  for (int64_t j = 0; j < nr; j++) {
    int64_t oy = (n0 + j) / g.ow, ox = (n0 + j) % g.ow;
    if (j == 0 || ox == 0)
      runs[nruns++] = Run{j, j + 1, oy - g.pad, ox - g.pad};
    else
      runs[nruns - 1].j1 = j + 1;
  }
  const __m256i lane_lo = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lane_hi = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
  const int64_t khw = g.kh * g.kw;
  int64_t ci = k0 / khw, rem = k0 % khw, ky = rem / g.kw, kx = rem % g.kw;
  for (int64_t p = 0; p < kc; p++) {
    const float* plane = g.x + ci * hw;
    __m256 v0 = _mm256_setzero_ps(), v1 = _mm256_setzero_ps();
    for (int r = 0; r < nruns; r++) {
      const Run& run = runs[r];
      const int64_t iy = run.iy + ky;
      if (iy < 0 || iy >= g.h) continue;
      const int64_t xs = run.ix + kx;  // input column of lane j0; lane j reads xs + (j - j0)
      const int64_t jlo = std::max(run.j0, run.j0 - xs), jhi = std::min(run.j1, run.j0 + g.w - xs);
      if (jlo >= jhi) continue;
      const float* row = plane + iy * g.w;
      if (jlo == 0 && jhi == NR) {  // the whole sliver from one row, fully inside the image
        v0 = _mm256_loadu_ps(row + xs);
        v1 = _mm256_loadu_ps(row + xs + 8);
        continue;
      }
      // Lane j's address is row + xs - j0 + j; computed as an integer since row + xs - j0 itself may lie
      // outside the image (only lanes inside [jlo, jhi) are read).
      const uintptr_t base = reinterpret_cast<uintptr_t>(row) + uintptr_t(xs - run.j0) * sizeof(float);
      const __m256i lo = _mm256_set1_epi32(int(jlo) - 1), hi = _mm256_set1_epi32(int(jhi));
      if (jlo < 8) {
        __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(lane_lo, lo), _mm256_cmpgt_epi32(hi, lane_lo));
        v0 = _mm256_or_ps(v0, _mm256_maskload_ps(reinterpret_cast<const float*>(base), m));
      }
      if (jhi > 8) {
        __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(lane_hi, lo), _mm256_cmpgt_epi32(hi, lane_hi));
        v1 = _mm256_or_ps(v1, _mm256_maskload_ps(reinterpret_cast<const float*>(base + 8 * sizeof(float)), m));
      }
    }
    _mm256_store_ps(dst + p * NR, v0);
    _mm256_store_ps(dst + p * NR + 8, v1);
    if (++kx == g.kw) {
      kx = 0;
      if (++ky == g.kh) {
        ky = 0;
        ci++;
      }
    }
  }
}
#endif

#if HGC_CONV_X86
// ---------------------------------------------------------------------------------------------------
// Direct 3x3 stride-1 path. The image is copied once into a zero-padded buffer xp [cin, h2, w2]
// (h2 = h + 2 pad, w2 = w + 2 pad). Then col[(ci, ky, kx), (oy, ox)] = xp[ci, oy + ky, ox + kx], so a
// 16-column sliver of one output row (ox0 .. ox0+15) reads, for each k, 16 consecutive floats of xp
// starting at ci*plane + (oy + ky)*w2 + ox0 + kx. The microkernel loads them straight from xp: no im2col
// panel is written or read back, and a sliver's working set (3 rows of ~18 floats per channel, shared by
// the 3 kx taps) is smaller than its packed form. The weights are packed in MR-row slivers per block
// (gemm.cc's packer), C is the accumulator across channel blocks, and bias / residual are applied in the
// microkernel's stores.
constexpr int64_t DMR = 6;
constexpr int64_t kDirectMC = 120;   // rows of the packed weight block (L2)
constexpr int64_t kDirectKC = 360;   // nominal k per block (channels x 9)

struct DirectTile {
  const float* bias;  // 6 per-row values added when !accumulate (or null)
  const float* res;   // residual tile (or null), added after everything else
  int64_t ldr;
  bool accumulate;    // add onto the C tile
};

// C[6][16] (+)= sum over nch channels and 3x3 taps of a[(ch*9 + ky*3 + kx)*6 + r] * x[ch*plane + ky*w2 + kx + j]
template <int KH, int KW>
HGC_AVX2 void ukr_direct(int64_t nch, const float* a, const float* x, int64_t plane, int64_t w2, float* c,
                         int64_t ldc, const DirectTile& t) {
  if (t.accumulate) {
    for (int r = 0; r < DMR; r++) {
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 15), _MM_HINT_T0);
    }
  }
  static_assert(KH == 3 && KW == 3, "only the 3x3 body is written out");
  // The channel loop is in assembly: GCC's register allocator spills accumulators here (12 accumulators
  // and 3 temporaries fill all 16 ymm registers), which costs about 10%. Accumulators are ymm0-11, the
  // B row halves ymm12-13, the broadcasts alternate ymm14/15; the result goes through acc[].
  alignas(32) float acc[DMR * 16];
  {
    const float* xa = x;
    const float* aa = a;
    int64_t n = nch;  // >= 1
    const int64_t w2b = w2 * int64_t(sizeof(float)), plb = plane * int64_t(sizeof(float));
    __asm__ volatile(
      "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
      "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
      "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"
      "vxorps %%ymm3, %%ymm3, %%ymm3\n\t"
      "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
      "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
      "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
      "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
      "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
      "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
      "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
      "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
      "1:\n\t"
      "vmovups 0(%[x]), %%ymm12\n\t"
      "vmovups 32(%[x]), %%ymm13\n\t"
      "vbroadcastss 0(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 4(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 8(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 12(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 16(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 20(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovups 4(%[x]), %%ymm12\n\t"
      "vmovups 36(%[x]), %%ymm13\n\t"
      "vbroadcastss 24(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 28(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 32(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 36(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 40(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 44(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovups 8(%[x]), %%ymm12\n\t"
      "vmovups 40(%[x]), %%ymm13\n\t"
      "vbroadcastss 48(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 52(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 56(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 60(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 64(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 68(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovups 0(%[x],%[w2b],1), %%ymm12\n\t"
      "vmovups 32(%[x],%[w2b],1), %%ymm13\n\t"
      "vbroadcastss 72(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 76(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 80(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 84(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 88(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 92(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovups 4(%[x],%[w2b],1), %%ymm12\n\t"
      "vmovups 36(%[x],%[w2b],1), %%ymm13\n\t"
      "vbroadcastss 96(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 100(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 104(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 108(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 112(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 116(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovups 8(%[x],%[w2b],1), %%ymm12\n\t"
      "vmovups 40(%[x],%[w2b],1), %%ymm13\n\t"
      "vbroadcastss 120(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 124(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 128(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 132(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 136(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 140(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovups 0(%[x],%[w2b],2), %%ymm12\n\t"
      "vmovups 32(%[x],%[w2b],2), %%ymm13\n\t"
      "vbroadcastss 144(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 148(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 152(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 156(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 160(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 164(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovups 4(%[x],%[w2b],2), %%ymm12\n\t"
      "vmovups 36(%[x],%[w2b],2), %%ymm13\n\t"
      "vbroadcastss 168(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 172(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 176(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 180(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 184(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 188(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "vmovups 8(%[x],%[w2b],2), %%ymm12\n\t"
      "vmovups 40(%[x],%[w2b],2), %%ymm13\n\t"
      "vbroadcastss 192(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"
      "vbroadcastss 196(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"
      "vbroadcastss 200(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"
      "vbroadcastss 204(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"
      "vbroadcastss 208(%[a]), %%ymm14\n\t"
      "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"
      "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"
      "vbroadcastss 212(%[a]), %%ymm15\n\t"
      "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"
      "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
      "add $216, %[a]\n\t"
      "add %[plb], %[x]\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vmovaps %%ymm0, 0(%[acc])\n\t"
      "vmovaps %%ymm1, 32(%[acc])\n\t"
      "vmovaps %%ymm2, 64(%[acc])\n\t"
      "vmovaps %%ymm3, 96(%[acc])\n\t"
      "vmovaps %%ymm4, 128(%[acc])\n\t"
      "vmovaps %%ymm5, 160(%[acc])\n\t"
      "vmovaps %%ymm6, 192(%[acc])\n\t"
      "vmovaps %%ymm7, 224(%[acc])\n\t"
      "vmovaps %%ymm8, 256(%[acc])\n\t"
      "vmovaps %%ymm9, 288(%[acc])\n\t"
      "vmovaps %%ymm10, 320(%[acc])\n\t"
      "vmovaps %%ymm11, 352(%[acc])\n\t"
      : [x] "+r"(xa), [a] "+r"(aa), [n] "+r"(n)
      : [w2b] "r"(w2b), [plb] "r"(plb), [acc] "r"(acc)
      : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  }
  __m256 c00 = _mm256_load_ps(acc + 0), c01 = _mm256_load_ps(acc + 8);
  __m256 c10 = _mm256_load_ps(acc + 16), c11 = _mm256_load_ps(acc + 24);
  __m256 c20 = _mm256_load_ps(acc + 32), c21 = _mm256_load_ps(acc + 40);
  __m256 c30 = _mm256_load_ps(acc + 48), c31 = _mm256_load_ps(acc + 56);
  __m256 c40 = _mm256_load_ps(acc + 64), c41 = _mm256_load_ps(acc + 72);
  __m256 c50 = _mm256_load_ps(acc + 80), c51 = _mm256_load_ps(acc + 88);
#define HGC_DIRECT_STORE(R, X0, X1)                                             \
  {                                                                             \
    float* cr = c + (R) * ldc;                                                  \
    if (t.accumulate) {                                                         \
      X0 = _mm256_add_ps(X0, _mm256_loadu_ps(cr));                              \
      X1 = _mm256_add_ps(X1, _mm256_loadu_ps(cr + 8));                          \
    } else if (t.bias) {                                                        \
      const __m256 bv = _mm256_broadcast_ss(t.bias + (R));                      \
      X0 = _mm256_add_ps(X0, bv);                                               \
      X1 = _mm256_add_ps(X1, bv);                                               \
    }                                                                           \
    if (t.res) {                                                                \
      X0 = _mm256_add_ps(X0, _mm256_loadu_ps(t.res + (R) * t.ldr));             \
      X1 = _mm256_add_ps(X1, _mm256_loadu_ps(t.res + (R) * t.ldr + 8));         \
    }                                                                           \
    _mm256_storeu_ps(cr, X0);                                                   \
    _mm256_storeu_ps(cr + 8, X1);                                               \
  }
  HGC_DIRECT_STORE(0, c00, c01)
  HGC_DIRECT_STORE(1, c10, c11)
  HGC_DIRECT_STORE(2, c20, c21)
  HGC_DIRECT_STORE(3, c30, c31)
  HGC_DIRECT_STORE(4, c40, c41)
  HGC_DIRECT_STORE(5, c50, c51)
#undef HGC_DIRECT_STORE
}

// 64-byte aligned float scratch.
struct AlignedBuf {
  float* p = nullptr;
  explicit AlignedBuf(size_t n) {
    if (n) p = scratch_alloc(n);
  }
  ~AlignedBuf() {
    scratch_free(p);
  }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
};

bool direct_supported(const Conv2dArgs& a) {
  if (a.stride != 1 || a.kh != 3 || a.kw != 3 || a.cin <= 0) return false;
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return false;
  // Slivers never span two output rows: a row's last sliver is partly wasted, so require little waste.
  const int64_t padded = (a.ow + 15) / 16 * 16;
  if ((padded - a.ow) * 8 > a.ow) return false;
  if (a.oh != a.h + 2 * a.pad - 2 || a.ow != a.w + 2 * a.pad - 2) return false;
  if (a.residual) {  // C is the accumulator: the residual must not share memory with the output
    const size_t bytes = size_t(a.n * a.cout * a.oh * a.ow) * sizeof(float);
    const uintptr_t y0 = reinterpret_cast<uintptr_t>(a.y), r0 = reinterpret_cast<uintptr_t>(a.residual);
    if (r0 < y0 + bytes && y0 < r0 + bytes) return false;
  }
  return true;
}

void conv3x3_direct(const Conv2dArgs& a) {
  const int64_t h2 = a.h + 2 * a.pad, w2 = a.w + 2 * a.pad, plane = h2 * w2;
  const int64_t npix = a.oh * a.ow, kdim = a.cin * 9;
  const int64_t in_img = a.cin * a.h * a.w, out_img = a.cout * npix;
  // Padded image, plus slack: a row's last sliver may read up to 15 + 2 floats past the row's output
  // columns (its unused lanes), which can run past the end of the last plane.
  const size_t xp_size = size_t(a.cin * plane) + 64;
  AlignedBuf xp(xp_size);
  std::memset(xp.p + a.cin * plane, 0, 64 * sizeof(float));

  const int64_t nkb = (kdim + kDirectKC - 1) / kDirectKC;
  const int64_t cc_nom = (a.cin + nkb - 1) / nkb;  // channels per k block
  const int64_t mrows = (a.cout + DMR - 1) / DMR;
  const int nt = num_threads();
  int64_t nmb = std::max<int64_t>(1, (mrows * DMR + kDirectMC - 1) / kDirectMC);
  if (nt > 1) {
    // A multiple of the thread count, and at most the pool's chunk count (4 per thread) so that every
    // chunk is exactly one block: chunks of unequal block counts would leave a thread idle at the end.
    nmb = std::min<int64_t>((nmb + nt - 1) / nt * nt, 4 * int64_t(nt));
  }
  nmb = std::min(nmb, mrows);

  for (int64_t img = 0; img < a.n; img++) {
    const float* x = a.x + img * in_img;
    float* y = a.y + img * out_img;
    const float* res = a.residual ? a.residual + img * out_img : nullptr;
    parallel_for(a.cin, 8, [&](int64_t c0, int64_t c1) {
      for (int64_t ci = c0; ci < c1; ci++) {
        float* dp = xp.p + ci * plane;
        const float* sp = x + ci * a.h * a.w;
        std::memset(dp, 0, sizeof(float) * a.pad * w2);
        for (int64_t iy = 0; iy < a.h; iy++) {
          float* d = dp + (iy + a.pad) * w2;
          for (int64_t j = 0; j < a.pad; j++) d[j] = 0.0f;
          std::memcpy(d + a.pad, sp + iy * a.w, sizeof(float) * a.w);
          for (int64_t j = a.pad + a.w; j < w2; j++) d[j] = 0.0f;
        }
        std::memset(dp + (a.pad + a.h) * w2, 0, sizeof(float) * a.pad * w2);
      }
    });
    parallel_for(nmb, 1, [&](int64_t b0, int64_t b1) {
      const int64_t mb_rows = ((mrows + nmb - 1) / nmb) * DMR;  // the largest block's rows
      AlignedBuf abuf(size_t(mb_rows) * size_t(cc_nom * 9) + 64);
      alignas(64) float tile[DMR * 16];
      for (int64_t mb = b0; mb < b1; mb++) {
        const int64_t m0 = std::min(a.cout, (mrows * mb / nmb) * DMR);
        const int64_t m1 = std::min(a.cout, (mrows * (mb + 1) / nmb) * DMR);
        if (m0 >= m1) continue;
        for (int64_t c0 = 0; c0 < a.cin; c0 += cc_nom) {
          const int64_t cc = std::min(cc_nom, a.cin - c0), kc = cc * 9;
          const bool first = c0 == 0, last = c0 + cc >= a.cin;
          detail::pack_a_panel(a.weight + m0 * kdim + c0 * 9, kdim, m1 - m0, kc, abuf.p);
          // While this block computes, pull the next block's weights (rows m0..m1, the next channel
          // block's columns) into L2, a few lines per sliver, so the next pack does not wait on memory.
          const int64_t next_kc = last ? 0 : std::min(cc_nom, a.cin - c0 - cc) * 9;
          const int64_t line_per_row = (next_kc * int64_t(sizeof(float)) + 63) / 64 + 1;
          const int64_t pf_total = last ? 0 : (m1 - m0) * line_per_row;
          const int64_t nslivers = a.oh * ((a.ow + 15) / 16);
          const int64_t pf_step = (pf_total + nslivers - 1) / nslivers;
          int64_t pf_next = 0;
          const char* pf_base = reinterpret_cast<const char*>(a.weight + m0 * kdim + (c0 + cc) * 9);
          const float* xb = xp.p + c0 * plane;
          for (int64_t oy = 0; oy < a.oh; oy++) {
            for (int64_t ox0 = 0; ox0 < a.ow; ox0 += 16) {
              for (int64_t e = std::min(pf_total, pf_next + pf_step); pf_next < e; pf_next++) {
                const int64_t row = pf_next / line_per_row, line = pf_next % line_per_row;
                _mm_prefetch(pf_base + row * kdim * int64_t(sizeof(float)) + line * 64, _MM_HINT_T1);
              }
              const int64_t nr = std::min<int64_t>(16, a.ow - ox0);
              const float* xs = xb + oy * w2 + ox0;
              {  // the next sliver's input rows (3 per channel, 18 floats each) into L2
                const int64_t nx = ox0 + 16 < a.ow ? ox0 + 16 : 0, ny = ox0 + 16 < a.ow ? oy : oy + 1;
                const float* q = xb + ny * w2 + nx;
                if (ny < a.oh) {
                  for (int64_t ch = 0; ch < cc; ch++, q += plane) {
                    for (int ky = 0; ky < 3; ky++) {
                      _mm_prefetch(reinterpret_cast<const char*>(q + ky * w2), _MM_HINT_T1);
                      _mm_prefetch(reinterpret_cast<const char*>(q + ky * w2 + 17), _MM_HINT_T1);
                    }
                  }
                }
              }
              const int64_t col = oy * a.ow + ox0;
              for (int64_t r0 = m0; r0 < m1; r0 += DMR) {
                const int64_t mr = std::min(DMR, m1 - r0);
                const float* as = abuf.p + (r0 - m0) * kc;
                float* cp = y + r0 * npix + col;
                const float* rp = (last && res) ? res + r0 * npix + col : nullptr;
                if (mr == DMR && nr == 16) {
                  DirectTile t{first && a.bias ? a.bias + r0 : nullptr, rp, npix, !first};
                  ukr_direct<3, 3>(cc, as, xs, plane, w2, cp, npix, t);
                } else {
                  DirectTile t{nullptr, nullptr, 0, false};
                  ukr_direct<3, 3>(cc, as, xs, plane, w2, tile, 16, t);
                  for (int64_t r = 0; r < mr; r++) {
                    float* cr = cp + r * npix;
                    const float* tr = tile + r * 16;
                    const float bv = (first && a.bias) ? a.bias[r0 + r] : 0.0f;
                    for (int64_t j = 0; j < nr; j++) {
                      float v = (first ? bv : cr[j]) + tr[j];
                      if (rp) v += rp[r * npix + j];
                      cr[j] = v;
                    }
                  }
                }
              }
            }
          }
        }
      }
    });
  }
}
#endif

detail::PackBFn select_im2col(int64_t stride) {
#if HGC_CONV_X86
  if (stride == 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return pack_im2col_s1_avx2;
#endif
  (void)stride;
  return pack_im2col;
}

}  // namespace

int64_t conv2d_scratch_bytes(const Conv2dSizes& s) { return winograd_scratch_bytes(s); }

void conv2d(const Conv2dArgs& a) {
  if (a.n <= 0 || a.cout <= 0 || a.oh <= 0 || a.ow <= 0) return;
  if (a.scratch && winograd_applies(a)) {
    conv3x3_winograd(a);
    return;
  }
#if HGC_CONV_X86
  if (direct_supported(a)) {
    conv3x3_direct(a);
    return;
  }
#endif
  const int64_t npix = a.oh * a.ow;
  const int64_t kdim = a.cin * a.kh * a.kw;
  const int64_t in_img = a.cin * a.h * a.w, out_img = a.cout * npix;
  const bool plain = a.kh == 1 && a.kw == 1 && a.stride == 1 && a.pad == 0 && a.oh == a.h && a.ow == a.w;
  const detail::PackBFn im2col = select_im2col(a.stride);

  auto image = [&](int64_t i, bool parallel) {
    const float* x = a.x + i * in_img;
    float* y = a.y + i * out_img;
    const float* res = a.residual ? a.residual + i * out_img : nullptr;
    if (plain || kdim == 0) {
      detail::gemm_ex(a.cout, npix, kdim, a.weight, kdim, false, x, npix, false, nullptr, nullptr, y, npix,
                      nullptr, a.bias, res, npix, Activation::None, parallel);
    } else {
      Im2col ctx{x, a.h, a.w, a.kh, a.kw, a.stride, a.pad, a.ow};
      detail::gemm_ex(a.cout, npix, kdim, a.weight, kdim, false, nullptr, 0, false, im2col, &ctx, y, npix,
                      nullptr, a.bias, res, npix, Activation::None, parallel);
    }
  };

  const int nt = num_threads();
  const double img_flops = 2.0 * double(a.cout) * double(npix) * double(std::max<int64_t>(kdim, 1));
  if (a.n > 1 && nt > 1 && (a.n >= 4 * nt || a.n % nt == 0 || img_flops < 4e6)) {
    parallel_for(a.n, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; i++) image(i, false);
    });
  } else {
    for (int64_t i = 0; i < a.n; i++) image(i, nt > 1);
  }
}

}  // namespace hgc::cpu
