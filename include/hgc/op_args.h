// Arguments of the raw-pointer launchers every backend implements (DESIGN.md layer 1). Pointers are device
// pointers of the backend that runs the launcher; compute ops take f32 data. Shapes have been validated
// by the op entry before any launcher sees them.
#pragma once
#include <cstdint>

#include "hgc/dtype.h"

namespace hgc {

constexpr int kMaxDims = 8;

enum class Activation : int { None = 0, GeluErf = 1, GeluTanh = 2, Silu = 3, QuickGelu = 4 };

// C[b] = act(op(A[b]) · op(B[b]) + bias) + residual[b], for b in [0, batch).
// op(A) is M×K: A[m*lda + k], or A[k*lda + m] when trans_a. op(B) is K×N: B[k*ldb + n], or B[n*ldb + k]
// when trans_b. C[m*ldc + n]. bias has N entries (nullable); residual uses C's layout (nullable, may alias C).
// A stride of 0 shares that operand across the batch. T is the element type of every pointer: float for
// the f32 launcher `gemm`; void for `gemm_half`, whose GemmHalfArgs names the storage type.
template <typename T>
struct GemmArgsOf {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  const T* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  bool trans_a = false;
  const T* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  bool trans_b = false;
  T* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  const T* bias = nullptr;
  const T* residual = nullptr;
  int64_t stride_residual = 0;
  Activation act = Activation::None;
};
using GemmArgs = GemmArgsOf<float>;

// The same product with a, b, bias, residual and c all stored as f16 or bf16 (`dtype`); the launcher
// accumulates and applies the epilogue in f32 and rounds once when storing C, so the result matches
// converting to f32, running `gemm` and converting back (up to summation order).
struct GemmHalfArgs : GemmArgsOf<void> {
  DType dtype = DType::F16;
};

// y = conv(x, w) + bias + residual, NCHW. x [n, cin, h, w], w [cout, cin, kh, kw], y [n, cout, oh, ow],
// oh = (h + 2*pad - kh) / stride + 1. bias [cout] and residual (y's shape) are nullable; residual never
// aliases y. `scratch` is Launchers::conv2d_scratch_bytes(sizes) bytes of the backend's memory (16-byte
// aligned), allocated by the entry through the backend allocator when the backend asks for it (the CPU does not).
struct Conv2dSizes {
  int64_t n = 0, cin = 0, h = 0, w = 0, cout = 0, kh = 0, kw = 0, stride = 1, pad = 0, oh = 0, ow = 0;
  // Optional GroupNorm (+ SiLU) of x before the convolution, y = conv(silu(group_norm(x))) + bias + residual,
  // for backends with Launchers::conv2d_fuses_group_norm (the entry runs group_norm first for the others, and
  // always for Conv2dHalfArgs): norm_groups > 0 enables it.
  int64_t norm_groups = 0;
};
struct Conv2dArgs : Conv2dSizes {
  const float* x = nullptr;
  const float* weight = nullptr;
  const float* bias = nullptr;
  const float* residual = nullptr;
  float* y = nullptr;
  void* scratch = nullptr;
  const float* norm_gamma = nullptr;  // [cin], nullable
  const float* norm_beta = nullptr;   // [cin], nullable
  float norm_eps = 1e-5f;
  bool norm_silu = false;
};
// The same convolution with x, weight, bias, residual and y all stored as f16 or bf16 (`dtype`); the
// launcher accumulates and adds bias and residual in f32 and rounds once when storing y. norm_groups is 0.
struct Conv2dHalfArgs : Conv2dSizes {
  DType dtype = DType::F16;
  const void* x = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  void* y = nullptr;
  void* scratch = nullptr;
};

// Multi-head scaled dot-product attention. q [batch, n, heads*head_dim], k and v [batch, m, heads*head_dim],
// out [batch, n, heads*head_dim]; row strides are given (so q/k/v may be column slices of a fused projection).
// Compute: streaming (flash-style) softmax, never materialising the n×m scores.
// Capture: as compute, and also writes probs [batch, heads, n, m] = softmax(q·kᵀ·scale).
// Replay: out = probs · v only (q and k unused).
// T is the element type of q, k, v and out: float for `attention`; void for `attention_half`, whose
// AttentionHalfArgs names the storage type. probs is f32 in both.
enum class AttentionMode : int { Compute = 0, Capture = 1, Replay = 2 };
template <typename T>
struct AttentionArgsOf {
  int64_t batch = 0, n = 0, m = 0, heads = 0, head_dim = 0;
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  int64_t q_row_stride = 0, k_row_stride = 0, v_row_stride = 0;  // elements between consecutive tokens
  T* out = nullptr;
  int64_t out_row_stride = 0;
  float scale = 1.0f;
  bool causal = false;  // query i sees keys j <= i + (m - n)
  AttentionMode mode = AttentionMode::Compute;
  float* probs = nullptr;  // written in Capture, read in Replay
};
using AttentionArgs = AttentionArgsOf<float>;

// The same attention with q, k, v and out stored as f16 or bf16 (`dtype`): f32 softmax statistics and
// accumulation, out rounded once. Head dims up to kAttentionHalfMaxHeadDim; the entry converts larger ones
// to f32 and calls `attention`.
constexpr int64_t kAttentionHalfMaxHeadDim = 256;
struct AttentionHalfArgs : AttentionArgsOf<void> {
  DType dtype = DType::F16;
};

// Normalisation over groups of channels: x [n, channels, spatial]; each (n, group) is normalised over
// channels/groups × spatial elements, then y = x̂·gamma[c] + beta[c], optionally followed by SiLU.
// `scratch` is kGroupNormScratchFloats floats of the backend's memory, allocated by the entry through the
// backend allocator, where a GPU backend may keep per-chunk statistics of split groups (the CPU ignores it).
constexpr int64_t kGroupNormScratchFloats = 2 * 8192;
struct GroupNormArgs {
  int64_t n = 0, channels = 0, spatial = 0, groups = 1;
  const float* x = nullptr;
  const float* gamma = nullptr;  // nullable (no affine)
  const float* beta = nullptr;
  float* y = nullptr;
  float eps = 1e-5f;
  bool silu = false;
  void* scratch = nullptr;
};

// Normalisation of each row of x [rows, cols]: y = x̂·gamma + beta.
struct LayerNormArgs {
  int64_t rows = 0, cols = 0;
  const float* x = nullptr;
  const float* gamma = nullptr;  // nullable
  const float* beta = nullptr;
  float* y = nullptr;
  float eps = 1e-5f;
};

// Element-wise binary op with broadcasting: out[i] = a[idx_a(i)] op b[idx_b(i)], strides 0 on broadcast dims.
enum class BinaryOp : int { Add = 0, Sub = 1, Mul = 2, Div = 3 };
struct BinaryArgs {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};
  int64_t stride_b[kMaxDims] = {};
  const float* a = nullptr;
  const float* b = nullptr;
  float* out = nullptr;  // contiguous in `shape`
  BinaryOp op = BinaryOp::Add;
};

// Element-wise unary op on n contiguous values: out = f(alpha·x + beta) for the activations, or just
// alpha·x + beta for Affine. GEGLU: x [rows, 2·cols] → out [rows, cols] = x[:, :cols] · gelu(x[:, cols:]).
enum class UnaryOp : int { Affine = 0, GeluErf = 1, GeluTanh = 2, Silu = 3, QuickGelu = 4, Relu = 5, Tanh = 6, Sigmoid = 7 };
struct UnaryArgs {
  int64_t n = 0;
  const float* x = nullptr;
  float* out = nullptr;
  UnaryOp op = UnaryOp::Affine;
  float alpha = 1.0f, beta = 0.0f;
};
struct GegluArgs {
  int64_t rows = 0, cols = 0;
  const float* x = nullptr;
  float* out = nullptr;
  bool tanh_approx = false;
};

// Softmax along the last dimension of x [rows, cols].
struct SoftmaxArgs {
  int64_t rows = 0, cols = 0;
  const float* x = nullptr;
  float* out = nullptr;
};

// Nearest-neighbour 2× upsampling: x [planes, h, w] → out [planes, 2h, 2w].
struct Upsample2xArgs {
  int64_t planes = 0, h = 0, w = 0;
  const float* x = nullptr;
  float* out = nullptr;
};

// out[offset_out + Σ i_d·stride_out[d]] = src[offset_src + Σ i_d·stride_src[d]] over `shape`; element size
// in bytes (so any dtype moves). Permute, slice, concat and split are all this copy.
struct StridedCopyArgs {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride_src[kMaxDims] = {};
  int64_t stride_dst[kMaxDims] = {};
  const void* src = nullptr;
  void* dst = nullptr;
  int64_t elem_size = 4;
};

// Sinusoidal timestep embedding as diffusers' get_timestep_embedding: t [n] → out [n, dim].
struct TimestepEmbeddingArgs {
  int64_t n = 0, dim = 0;
  const float* t = nullptr;
  float* out = nullptr;
  bool flip_sin_to_cos = false;
  float downscale_freq_shift = 1.0f;
  float scale = 1.0f;
  float max_period = 10000.0f;
};

// Similarity reductions over n values, accumulated in double: L1 → Σ|a|; RelL1 → Σ|a−b| / Σ|b|;
// Cosine → Σab / (‖a‖·‖b‖). `scratch` is kReduceScratchBytes of the backend's memory (8-byte aligned),
// allocated by the entry through the backend allocator, for per-block partial sums (the CPU ignores it).
enum class ReduceOp : int { L1 = 0, RelL1 = 1, Cosine = 2 };
constexpr int64_t kReduceScratchBytes = 512 * 3 * 8;
struct ReduceArgs {
  int64_t n = 0;
  const float* a = nullptr;
  const float* b = nullptr;
  ReduceOp op = ReduceOp::L1;
  void* scratch = nullptr;
};

}  // namespace hgc
