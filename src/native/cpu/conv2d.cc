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

}  // namespace

void conv2d(const Conv2dArgs& a) {
  if (a.n <= 0 || a.cout <= 0 || a.oh <= 0 || a.ow <= 0) return;
  const int64_t npix = a.oh * a.ow;
  const int64_t kdim = a.cin * a.kh * a.kw;
  const int64_t in_img = a.cin * a.h * a.w, out_img = a.cout * npix;
  const bool plain = a.kh == 1 && a.kw == 1 && a.stride == 1 && a.pad == 0 && a.oh == a.h && a.ow == a.w;

  auto image = [&](int64_t i, bool parallel) {
    const float* x = a.x + i * in_img;
    float* y = a.y + i * out_img;
    const float* res = a.residual ? a.residual + i * out_img : nullptr;
    if (plain || kdim == 0) {
      detail::gemm_ex(a.cout, npix, kdim, a.weight, kdim, false, x, npix, false, nullptr, nullptr, y, npix,
                      nullptr, a.bias, res, npix, Activation::None, parallel);
    } else {
      Im2col ctx{x, a.h, a.w, a.kh, a.kw, a.stride, a.pad, a.ow};
      detail::gemm_ex(a.cout, npix, kdim, a.weight, kdim, false, nullptr, 0, false, pack_im2col, &ctx, y, npix,
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
