// NCHW 2-D convolution as a GEMM per image: y[cout, oh*ow] = W[cout, cin*kh*kw] · col[cin*kh*kw, oh*ow].
// The im2col matrix is never materialised: the GEMM driver (gemm.cc) asks for one 16-column B sliver at a
// time and pack_im2col() gathers it straight from the image into the packed layout, so the only scratch is
// the driver's bounded KC x NC panel. A 1x1 / stride-1 / no-padding convolution is a plain GEMM on x.
// Bias is per output channel (a per-row bias of the GEMM) and the residual is fused into the epilogue.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "thread_pool.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(HGC_GEMM_PORTABLE_ONLY)
#define HGC_CONV_X86 1
#include <immintrin.h>
#define HGC_AVX2 __attribute__((target("avx2,fma")))
#else
#define HGC_CONV_X86 0
#endif

namespace hgc::cpu {
namespace detail {

// Defined in gemm.cc.
using PackBFn = void (*)(const void* ctx, int64_t k0, int64_t kc, int64_t n0, int64_t nr, float* dst);
void gemm_ex(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a, const float* b,
             int64_t ldb, bool trans_b, PackBFn pack_b, const void* pack_ctx, float* c, int64_t ldc,
             const float* bias_n, const float* bias_m, const float* residual, int64_t ldr, Activation act,
             bool parallel);

}  // namespace detail

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

detail::PackBFn select_im2col(int64_t stride) {
#if HGC_CONV_X86
  if (stride == 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return pack_im2col_s1_avx2;
#endif
  (void)stride;
  return pack_im2col;
}

}  // namespace

void conv2d(const Conv2dArgs& a) {
  if (a.n <= 0 || a.cout <= 0 || a.oh <= 0 || a.ow <= 0) return;
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
