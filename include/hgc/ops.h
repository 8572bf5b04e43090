// Op entries (DESIGN.md layer 2): backend-independent functions over tensors. Each validates shapes,
// dtypes and devices (Error SHAPE/DTYPE/DEVICE naming the offending values), allocates its output on the
// inputs' device and calls that backend's launcher. Compute ops accept f32, f16 and bf16: inputs share one
// dtype, are computed in f32, and the output comes back in that dtype.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hgc/op_args.h"
#include "hgc/tensor.h"

namespace hgc {

// Creation and movement.
Tensor op_full(Backend& backend, const Shape& shape, DType dtype, float value);
Tensor op_randn(Backend& backend, const Shape& shape, DType dtype, uint64_t seed);
Tensor op_from_host(Backend& backend, const Shape& shape, DType dtype, const void* data, size_t bytes);
void op_to_host(const Tensor& t, void* dst, size_t bytes);
Tensor op_to_device(const Tensor& t, Backend& backend);
Tensor op_cast(const Tensor& t, DType dtype);
Tensor op_clone(const Tensor& t);
// Copies src's bytes into dst (same device, dtype and shape): how new inputs reach a graph's static inputs.
void op_copy_into(const Tensor& dst, const Tensor& src);

// Layout: all are strided copies.
Tensor op_permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor op_slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);
Tensor op_concat(const std::vector<Tensor>& xs, int64_t dim);

struct MatmulOptions {
  bool trans_a = false, trans_b = false;
  const Tensor* bias = nullptr;
  const Tensor* residual = nullptr;
  Activation act = Activation::None;
};
Tensor op_matmul(const Tensor& a, const Tensor& b, const MatmulOptions& o);

struct Conv2dOptions {
  int64_t stride = 1, padding = 0;
  const Tensor* bias = nullptr;
  const Tensor* residual = nullptr;
  // GroupNorm (+ SiLU) of x before the convolution when norm_groups > 0 (fused where the backend can).
  int64_t norm_groups = 0;
  const Tensor* norm_weight = nullptr;
  const Tensor* norm_bias = nullptr;
  float norm_eps = 1e-5f;
  bool norm_silu = false;
};
Tensor op_conv2d(const Tensor& x, const Tensor& w, const Conv2dOptions& o);

struct AttentionOptions {
  int64_t heads = 1;
  std::optional<float> scale;  // default 1/sqrt(head_dim)
  bool causal = false;
  AttentionMode mode = AttentionMode::Compute;
  const Tensor* probs = nullptr;  // f32 [batch, heads, n, m]: written by capture, read by replay
};
// q and k may be null in replay mode.
Tensor op_attention(const Tensor* q, const Tensor* k, const Tensor& v, const AttentionOptions& o);
// Internal (tests of the launchers' row strides): attention, compute mode, on column slices of wider f32
// matrices, as when q, k, v are slices of a fused projection. q [batch, n, wq], k and v [batch, m, wk|wv];
// the operands are columns [offset, offset + channels) of each; the result is written at columns
// [out_offset, out_offset + channels) of a new zero-filled [batch, n, out_width] tensor.
struct AttentionSliceOptions {
  int64_t channels = 0, heads = 1, q_offset = 0, k_offset = 0, v_offset = 0, out_offset = 0, out_width = 0;
  bool causal = false;
};
Tensor op_attention_slices(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionSliceOptions& o);

Tensor op_group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, float eps, bool silu);
Tensor op_layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps);
Tensor op_softmax(const Tensor& x);
Tensor op_binary(const Tensor& a, const Tensor& b, BinaryOp op);
Tensor op_unary(const Tensor& x, UnaryOp op, float alpha, float beta);
Tensor op_geglu(const Tensor& x, bool tanh_approx);
Tensor op_upsample2x(const Tensor& x);
Tensor op_timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float downscale_freq_shift,
                             float scale, float max_period);
double op_reduce(const Tensor& a, const Tensor* b, ReduceOp op);

// Broadcast shape of two shapes under NumPy rules; Error(SHAPE) naming both when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace hgc
