// Element-wise kernels of the cuda backend (f32 data, contiguous outputs), matching src/native/cpu/elementwise.cc:
//  - binary: out = a op b with broadcasting (stride-0 dims, up to kMaxDims). The host collapses the shape first
//    (size-1 dims dropped, dims that are contiguous for both inputs merged), so the common cases become a flat
//    vector loop (float4 when aligned) or a scalar broadcast; anything else indexes through the collapsed dims.
//  - unary: f(alpha·x + beta) for the activations, alpha·x + beta for Affine; one kernel per op (template).
//  - geglu: out[r, c] = x[r, c] · gelu(x[r, cols + c]).
//  - upsample2x (nearest) and the sinusoidal timestep embedding.
// NaN propagates as on the CPU (relu keeps NaN; the others propagate through the arithmetic).
#include <cmath>

#include "elementwise.cuh"
#include "kernel_util.cuh"
#include "launch.cuh"

namespace hgc::cuda {
namespace {

constexpr int kThreads = 256;

template <BinaryOp OP>
__device__ __forceinline__ float binary_apply(float x, float y) {
  if constexpr (OP == BinaryOp::Add) return x + y;
  else if constexpr (OP == BinaryOp::Sub) return x - y;
  else if constexpr (OP == BinaryOp::Mul) return x * y;
  else return x / y;
}

// The broadcast layout after collapsing: out is contiguous in `shape`; a and b have their own strides.
struct BinaryPlan {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t sa[kMaxDims] = {};
  int64_t sb[kMaxDims] = {};
};

// Both inputs contiguous and the same length as out. vec: all three pointers 16-byte aligned.
template <BinaryOp OP>
__global__ void binary_flat_kernel(const float* a, const float* b, float* out, int64_t n, bool vec) {
  const int64_t start = global_thread(), step = grid_threads();
  int64_t done = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = start; i < n4; i += step) {
      const Float4 x = reinterpret_cast<const Float4*>(a)[i], y = reinterpret_cast<const Float4*>(b)[i];
      Float4 r;
      for (int k = 0; k < 4; k++) r.v[k] = binary_apply<OP>(x.v[k], y.v[k]);
      reinterpret_cast<Float4*>(out)[i] = r;
    }
    done = n4 * 4;
  }
  for (int64_t i = done + start; i < n; i += step) out[i] = binary_apply<OP>(a[i], b[i]);
}

// a contiguous, b one value (a bias or scale broadcast to everything).
template <BinaryOp OP>
__global__ void binary_scalar_kernel(const float* a, const float* b, float* out, int64_t n, bool vec) {
  const float y = b[0];
  const int64_t start = global_thread(), step = grid_threads();
  int64_t done = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = start; i < n4; i += step) {
      const Float4 x = reinterpret_cast<const Float4*>(a)[i];
      Float4 r;
      for (int k = 0; k < 4; k++) r.v[k] = binary_apply<OP>(x.v[k], y);
      reinterpret_cast<Float4*>(out)[i] = r;
    }
    done = n4 * 4;
  }
  for (int64_t i = done + start; i < n; i += step) out[i] = binary_apply<OP>(a[i], y);
}

// Index is uint32_t whenever every index and offset fits (64-bit division is many times slower on a GPU).
template <BinaryOp OP, typename Index>
__global__ void binary_strided_kernel(BinaryPlan p, const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    Index rem = Index(i), oa = 0, ob = 0;
    for (int d = p.ndim - 1; d >= 0; d--) {
      const Index size = Index(p.shape[d]), idx = rem % size;
      rem /= size;
      oa += idx * Index(p.sa[d]);
      ob += idx * Index(p.sb[d]);
    }
    out[i] = binary_apply<OP>(a[oa], b[ob]);
  }
}

BinaryPlan collapse(const BinaryArgs& a) {
  BinaryPlan p;
  for (int d = 0; d < a.ndim; d++) {
    if (a.shape[d] == 1) continue;  // contributes nothing to any offset
    const int k = p.ndim;
    // Merge into the previous (outer) dim when that one steps exactly over this whole dim in both inputs.
    if (k > 0 && p.sa[k - 1] == a.stride_a[d] * a.shape[d] && p.sb[k - 1] == a.stride_b[d] * a.shape[d]) {
      p.shape[k - 1] *= a.shape[d];
      p.sa[k - 1] = a.stride_a[d];
      p.sb[k - 1] = a.stride_b[d];
      continue;
    }
    p.shape[k] = a.shape[d];
    p.sa[k] = a.stride_a[d];
    p.sb[k] = a.stride_b[d];
    p.ndim++;
  }
  return p;
}

template <BinaryOp OP>
void binary_launch(const BinaryArgs& args, const BinaryPlan& p, int64_t n) {
  const unsigned blocks = grid_stride_blocks((n + 3) / 4, kThreads);
  const bool vec = aligned_to(args.a, 16) && aligned_to(args.b, 16) && aligned_to(args.out, 16);
  if (p.ndim == 0) {  // every dim has size 1: one element
    launch("binary", binary_flat_kernel<OP>, dim3(1), dim3(32), 0, nullptr, args.a, args.b, args.out, n, false);
  } else if (p.ndim == 1 && p.sa[0] == 1 && p.sb[0] == 1) {
    launch("binary", binary_flat_kernel<OP>, dim3(blocks), dim3(kThreads), 0, nullptr, args.a, args.b, args.out, n, vec);
  } else if (p.ndim == 1 && p.sa[0] == 1 && p.sb[0] == 0) {
    launch("binary", binary_scalar_kernel<OP>, dim3(blocks), dim3(kThreads), 0, nullptr, args.a, args.b, args.out, n,
           vec);
  } else if (n < (int64_t(1) << 31)) {  // inputs are no larger than out, so their offsets are < n too
    launch("binary", binary_strided_kernel<OP, uint32_t>, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), 0,
           nullptr, p, args.a, args.b, args.out, n);
  } else {
    launch("binary", binary_strided_kernel<OP, int64_t>, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), 0,
           nullptr, p, args.a, args.b, args.out, n);
  }
}

__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float gelu_tanh(float x) {
  return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

template <UnaryOp OP>
__device__ __forceinline__ float unary_apply(float x, float alpha, float beta) {
  const float v = x * alpha + beta;
  if constexpr (OP == UnaryOp::Affine) return v;
  else if constexpr (OP == UnaryOp::GeluErf) return gelu_erf(v);
  else if constexpr (OP == UnaryOp::GeluTanh) return gelu_tanh(v);
  else if constexpr (OP == UnaryOp::Silu) return v / (1.0f + expf(-v));
  else if constexpr (OP == UnaryOp::QuickGelu) return v / (1.0f + expf(-1.702f * v));
  else if constexpr (OP == UnaryOp::Relu) return v > 0.0f ? v : (v != v ? v : 0.0f);  // NaN propagates
  else if constexpr (OP == UnaryOp::Tanh) return tanhf(v);
  else return 1.0f / (1.0f + expf(-v));  // Sigmoid
}

template <UnaryOp OP>
__global__ void unary_kernel(const float* x, float* out, int64_t n, float alpha, float beta, bool vec) {
  const int64_t start = global_thread(), step = grid_threads();
  int64_t done = 0;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t i = start; i < n4; i += step) {
      const Float4 v = reinterpret_cast<const Float4*>(x)[i];
      Float4 r;
      for (int k = 0; k < 4; k++) r.v[k] = unary_apply<OP>(v.v[k], alpha, beta);
      reinterpret_cast<Float4*>(out)[i] = r;
    }
    done = n4 * 4;
  }
  for (int64_t i = done + start; i < n; i += step) out[i] = unary_apply<OP>(x[i], alpha, beta);
}

template <UnaryOp OP>
void unary_launch(const UnaryArgs& a) {
  const bool vec = aligned_to(a.x, 16) && aligned_to(a.out, 16);
  launch("unary", unary_kernel<OP>, dim3(grid_stride_blocks((a.n + 3) / 4, kThreads)), dim3(kThreads), 0, nullptr,
         a.x, a.out, a.n, a.alpha, a.beta, vec);
}

// Four outputs per step when cols % 4 == 0 and the pointers are 16-byte aligned (then hidden and gate
// quads are aligned too, as 2·cols and cols are multiples of 4); otherwise one.
template <bool TANH>
__global__ void geglu_kernel(const float* x, float* out, int64_t rows, int64_t cols, bool vec) {
  const int64_t start = global_thread(), step = grid_threads();
  if (vec) {
    const int64_t quads = rows * cols / 4, qpr = cols / 4;
    for (int64_t q = start; q < quads; q += step) {
      const int64_t r = q / qpr, c = (q - r * qpr) * 4;
      const Float4 h = *reinterpret_cast<const Float4*>(x + r * 2 * cols + c);
      const Float4 g = *reinterpret_cast<const Float4*>(x + r * 2 * cols + cols + c);
      Float4 o;
      for (int k = 0; k < 4; k++) o.v[k] = h.v[k] * (TANH ? gelu_tanh(g.v[k]) : gelu_erf(g.v[k]));
      *reinterpret_cast<Float4*>(out + r * cols + c) = o;
    }
    return;
  }
  for (int64_t i = start; i < rows * cols; i += step) {
    const int64_t r = i / cols, c = i - r * cols;
    const float h = x[r * 2 * cols + c], g = x[r * 2 * cols + cols + c];
    out[i] = h * (TANH ? gelu_tanh(g) : gelu_erf(g));
  }
}

// One thread per input element writes its 2×2 output block as two 8-byte stores (out rows have even
// length and even offsets, so each pair is 8-byte aligned when out is).
__global__ void upsample2x_kernel(const float* x, float* out, int64_t planes, int64_t h, int64_t w, bool vec) {
  const int64_t total = planes * h * w, ow = 2 * w;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t row = i / w, col = i - row * w;  // row = plane·h + y
    const float v = x[i];
    float* dst = out + row * 2 * ow + 2 * col;  // output rows 2y and 2y+1 of the same plane
    if (vec) {
      const Float2 p = {{v, v}};
      *reinterpret_cast<Float2*>(dst) = p;
      *reinterpret_cast<Float2*>(dst + ow) = p;
    } else {
      dst[0] = dst[1] = dst[ow] = dst[ow + 1] = v;
    }
  }
}

// diffusers' get_timestep_embedding, computed exactly as the CPU does: frequencies exp(j·scale) in double
// rounded to float, then float t·freq·scale, then sin/cos in float. Odd dims get a zero last column.
__global__ void timestep_embedding_kernel(const float* t, float* out, int64_t n, int64_t dim, double exponent_scale,
                                          float scale, bool flip) {
  const int64_t half = dim / 2;
  for (int64_t k = global_thread(); k < n * half; k += grid_threads()) {
    const int64_t i = k / half, j = k - i * half;
    const float freq = static_cast<float>(exp(double(j) * exponent_scale));
    const float arg = t[i] * freq * scale;
    const float s = sinf(arg), c = cosf(arg);
    float* row = out + i * dim;
    row[j] = flip ? c : s;
    row[half + j] = flip ? s : c;
    if (j == 0 && dim % 2) row[dim - 1] = 0.0f;
  }
}

}  // namespace

void binary(const BinaryArgs& a) {
  int64_t n = 1;
  for (int d = 0; d < a.ndim; d++) n *= a.shape[d];
  if (n == 0) return;
  const BinaryPlan p = collapse(a);
  switch (a.op) {
    case BinaryOp::Add: binary_launch<BinaryOp::Add>(a, p, n); break;
    case BinaryOp::Sub: binary_launch<BinaryOp::Sub>(a, p, n); break;
    case BinaryOp::Mul: binary_launch<BinaryOp::Mul>(a, p, n); break;
    case BinaryOp::Div: binary_launch<BinaryOp::Div>(a, p, n); break;
  }
}

void unary(const UnaryArgs& a) {
  if (a.n == 0) return;
  switch (a.op) {
    case UnaryOp::Affine: unary_launch<UnaryOp::Affine>(a); break;
    case UnaryOp::GeluErf: unary_launch<UnaryOp::GeluErf>(a); break;
    case UnaryOp::GeluTanh: unary_launch<UnaryOp::GeluTanh>(a); break;
    case UnaryOp::Silu: unary_launch<UnaryOp::Silu>(a); break;
    case UnaryOp::QuickGelu: unary_launch<UnaryOp::QuickGelu>(a); break;
    case UnaryOp::Relu: unary_launch<UnaryOp::Relu>(a); break;
    case UnaryOp::Tanh: unary_launch<UnaryOp::Tanh>(a); break;
    case UnaryOp::Sigmoid: unary_launch<UnaryOp::Sigmoid>(a); break;
  }
}

void geglu(const GegluArgs& a) {
  const int64_t total = a.rows * a.cols;
  if (total == 0) return;
  const bool vec = a.cols % 4 == 0 && aligned_to(a.x, 16) && aligned_to(a.out, 16);
  const unsigned blocks = grid_stride_blocks(vec ? total / 4 : total, kThreads);
  if (a.tanh_approx)
    launch("geglu", geglu_kernel<true>, dim3(blocks), dim3(kThreads), 0, nullptr, a.x, a.out, a.rows, a.cols, vec);
  else
    launch("geglu", geglu_kernel<false>, dim3(blocks), dim3(kThreads), 0, nullptr, a.x, a.out, a.rows, a.cols, vec);
}

void upsample2x(const Upsample2xArgs& a) {
  const int64_t total = a.planes * a.h * a.w;
  if (total == 0) return;
  launch("upsample2x", upsample2x_kernel, dim3(grid_stride_blocks(total, kThreads)), dim3(kThreads), 0, nullptr, a.x,
         a.out, a.planes, a.h, a.w, aligned_to(a.out, 8));
}

void timestep_embedding(const TimestepEmbeddingArgs& a) {
  const int64_t half = a.dim / 2;
  if (a.n == 0 || half == 0) return;
  const double exponent_scale = -std::log(double(a.max_period)) / (double(half) - double(a.downscale_freq_shift));
  launch("timestep_embedding", timestep_embedding_kernel, dim3(grid_stride_blocks(a.n * half, kThreads)),
         dim3(kThreads), 0, nullptr, a.t, a.out, a.n, a.dim, exponent_scale, a.scale, a.flip_sin_to_cos);
}

}  // namespace hgc::cuda
