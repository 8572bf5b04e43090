// Element-wise kernels: broadcasting binary ops, activations, GEGLU, nearest 2× upsampling and the
// sinusoidal timestep embedding. All f32, contiguous outputs.
#include <algorithm>
#include <cmath>
#include <vector>

#include "misc_kernels.h"
#include "simd.h"
#include "thread_pool.h"

namespace hgc::cpu {
namespace {

constexpr int64_t kGrain = 1 << 14;

inline float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float gelu_tanh(float x) {
  return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

HGC_CLONES void binary_row(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n,
                           BinaryOp op) {
  // The common contiguous / scalar-broadcast cases get their own loops so they vectorise.
  switch (op) {
    case BinaryOp::Add:
      if (sa == 1 && sb == 1) for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
      else if (sa == 1 && sb == 0) for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[0];
      else for (int64_t i = 0; i < n; i++) out[i] = a[i * sa] + b[i * sb];
      break;
    case BinaryOp::Sub:
      if (sa == 1 && sb == 1) for (int64_t i = 0; i < n; i++) out[i] = a[i] - b[i];
      else for (int64_t i = 0; i < n; i++) out[i] = a[i * sa] - b[i * sb];
      break;
    case BinaryOp::Mul:
      if (sa == 1 && sb == 1) for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
      else if (sa == 1 && sb == 0) for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[0];
      else for (int64_t i = 0; i < n; i++) out[i] = a[i * sa] * b[i * sb];
      break;
    case BinaryOp::Div:
      for (int64_t i = 0; i < n; i++) out[i] = a[i * sa] / b[i * sb];
      break;
  }
}

HGC_CLONES void affine_span(const float* x, float* out, int64_t n, float alpha, float beta) {
  for (int64_t i = 0; i < n; i++) out[i] = x[i] * alpha + beta;
}

HGC_CLONES void silu_span(const float* x, float* out, int64_t n, float alpha, float beta, float k, bool sigmoid_only = false) {
  // k = 1 for SiLU, 1.702 for quick GELU: v·sigmoid(k·v); sigmoid_only gives sigmoid(v).
  if (sigmoid_only) {
    for (int64_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + exp_fast(-(x[i] * alpha + beta)));
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] * alpha + beta;
    out[i] = v / (1.0f + exp_fast(-k * v));
  }
}

HGC_CLONES void relu_span(const float* x, float* out, int64_t n, float alpha, float beta) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] * alpha + beta;
    out[i] = v > 0.0f ? v : (v != v ? v : 0.0f);  // NaN propagates
  }
}

}  // namespace

void binary(const BinaryArgs& a) {
  const int nd = a.ndim;
  const int64_t inner = nd > 0 ? a.shape[nd - 1] : 1;
  int64_t outer = 1;
  for (int d = 0; d + 1 < nd; d++) outer *= a.shape[d];
  if (inner == 0 || outer == 0) return;
  const int64_t sa = nd > 0 ? a.stride_a[nd - 1] : 0, sb = nd > 0 ? a.stride_b[nd - 1] : 0;
  parallel_for(outer, std::max<int64_t>(1, kGrain / inner), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; o++) {
      int64_t off_a = 0, off_b = 0, rem = o;
      for (int d = nd - 2; d >= 0; d--) {
        int64_t idx = rem % a.shape[d];
        rem /= a.shape[d];
        off_a += idx * a.stride_a[d];
        off_b += idx * a.stride_b[d];
      }
      binary_row(a.a + off_a, sa, a.b + off_b, sb, a.out + o * inner, inner, a.op);
    }
  });
}

void unary(const UnaryArgs& a) {
  parallel_for(a.n, kGrain, [&](int64_t begin, int64_t end) {
    const float* x = a.x + begin;
    float* out = a.out + begin;
    const int64_t n = end - begin;
    switch (a.op) {
      case UnaryOp::Affine: affine_span(x, out, n, a.alpha, a.beta); break;
      case UnaryOp::Silu: silu_span(x, out, n, a.alpha, a.beta, 1.0f); break;
      case UnaryOp::QuickGelu: silu_span(x, out, n, a.alpha, a.beta, 1.702f); break;
      case UnaryOp::GeluErf:
        for (int64_t i = 0; i < n; i++) out[i] = gelu_erf(x[i] * a.alpha + a.beta);
        break;
      case UnaryOp::GeluTanh:
        for (int64_t i = 0; i < n; i++) out[i] = gelu_tanh(x[i] * a.alpha + a.beta);
        break;
      case UnaryOp::Relu:
        relu_span(x, out, n, a.alpha, a.beta);
        break;
      case UnaryOp::Tanh:
        for (int64_t i = 0; i < n; i++) out[i] = std::tanh(x[i] * a.alpha + a.beta);
        break;
      case UnaryOp::Sigmoid:
        silu_span(x, out, n, a.alpha, a.beta, 1.0f, true);
        break;
    }
  });
}

void geglu(const GegluArgs& a) {
  parallel_for(a.rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, a.cols)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float* hidden = a.x + r * 2 * a.cols;
      const float* gate = hidden + a.cols;
      float* out = a.out + r * a.cols;
      if (a.tanh_approx)
        for (int64_t i = 0; i < a.cols; i++) out[i] = hidden[i] * gelu_tanh(gate[i]);
      else
        for (int64_t i = 0; i < a.cols; i++) out[i] = hidden[i] * gelu_erf(gate[i]);
    }
  });
}

void upsample2x(const Upsample2xArgs& a) {
  const int64_t ow = a.w * 2;
  parallel_for(a.planes * a.h, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, 4 * a.w)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; row++) {
      const float* src = a.x + row * a.w;
      float* dst = a.out + row * 2 * ow;  // row (p, y) writes output rows 2y and 2y+1 of plane p
      for (int64_t x = 0; x < a.w; x++) dst[2 * x] = dst[2 * x + 1] = src[x];
      std::copy(dst, dst + ow, dst + ow);
    }
  });
}

void timestep_embedding(const TimestepEmbeddingArgs& a) {
  const int64_t half = a.dim / 2;
  const double exponent_scale = -std::log(double(a.max_period)) / (double(half) - double(a.downscale_freq_shift));
  for (int64_t i = 0; i < a.n; i++) {
    float* row = a.out + i * a.dim;
    for (int64_t j = 0; j < half; j++) {
      // Computed as in diffusers: float32 frequencies, float32 argument t·freq, then scale.
      float freq = static_cast<float>(std::exp(double(j) * exponent_scale));
      float arg = a.t[i] * freq * a.scale;
      float s = std::sin(arg), c = std::cos(arg);
      row[j] = a.flip_sin_to_cos ? c : s;
      row[half + j] = a.flip_sin_to_cos ? s : c;
    }
    if (a.dim % 2) row[a.dim - 1] = 0.0f;  // odd dims are zero-padded
  }
}

double reduce(const ReduceArgs& a) {
  // Per-chunk partial sums in double, combined in chunk order so the result does not depend on threads.
  const int64_t chunk = 1 << 16;
  const int64_t chunks = (a.n + chunk - 1) / chunk;
  std::vector<double> s0(chunks, 0.0), s1(chunks, 0.0), s2(chunks, 0.0);
  parallel_for(chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; c++) {
      int64_t lo = c * chunk, hi = std::min(a.n, lo + chunk);
      double p0 = 0, p1 = 0, p2 = 0;
      for (int64_t i = lo; i < hi; i++) {
        double x = a.a[i];
        if (a.op == ReduceOp::L1) {
          p0 += std::fabs(x);
        } else if (a.op == ReduceOp::RelL1) {
          double y = a.b[i];
          p0 += std::fabs(x - y);
          p1 += std::fabs(y);
        } else {
          double y = a.b[i];
          p0 += x * y;
          p1 += x * x;
          p2 += y * y;
        }
      }
      s0[c] = p0;
      s1[c] = p1;
      s2[c] = p2;
    }
  });
  double t0 = 0, t1 = 0, t2 = 0;
  for (int64_t c = 0; c < chunks; c++) {
    t0 += s0[c];
    t1 += s1[c];
    t2 += s2[c];
  }
  switch (a.op) {
    case ReduceOp::L1: return t0;
    case ReduceOp::RelL1: return t0 / t1;
    case ReduceOp::Cosine: return t0 / (std::sqrt(t1) * std::sqrt(t2));
  }
  return 0.0;
}

}  // namespace hgc::cpu
