// Entries of the normalisations, softmax and element-wise ops, upsampling, timestep embedding and the
// similarity reductions.
#include "op_util.h"

namespace hgc {
using namespace detail;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (size_t i = 0; i < nd; i++) {
    int64_t da = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    int64_t db = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    check(da == db || da == 1 || db == 1, ErrorCode::Shape, op, ": shapes ", shape_str(a), " and ", shape_str(b),
          " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor op_group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, float eps, bool silu) {
  Backend& be = common_backend("groupNorm", {&x, gamma, beta});
  DType dt = common_dtype("groupNorm", {&x, gamma, beta});
  check(x.shape.size() >= 2, ErrorCode::Shape, "groupNorm: input must be [N, C, ...], got ", shape_str(x.shape));
  const int64_t channels = x.shape[1];
  check(groups >= 1 && channels % groups == 0, ErrorCode::Arg, "groupNorm: ", channels, " channels of ",
        shape_str(x.shape), " do not split into ", groups, " groups");
  for (const Tensor* p : {gamma, beta})
    if (p)
      check(p->shape == Shape{channels}, ErrorCode::Shape, "groupNorm: affine parameter shape ", shape_str(p->shape),
            " should be [", channels, "]");
  auto launch = require_launcher(be.launch.group_norm, "groupNorm", be);
  Tensor xf = to_f32(x);
  std::optional<Tensor> gf, bf;
  if (gamma) gf = to_f32(*gamma);
  if (beta) bf = to_f32(*beta);
  Tensor out = empty_tensor(be, x.shape, DType::F32);
  GroupNormArgs a;
  a.n = x.shape[0];
  a.channels = channels;
  a.spatial = channels > 0 ? x.numel() / std::max<int64_t>(1, a.n * channels) : 0;
  a.groups = groups;
  a.x = xf.f32();
  a.gamma = gf ? gf->f32() : nullptr;
  a.beta = bf ? bf->f32() : nullptr;
  a.y = out.f32();
  a.eps = eps;
  a.silu = silu;
  Tensor scratch = empty_tensor(be, Shape{kGroupNormScratchFloats}, DType::F32);
  a.scratch = scratch.raw();
  if (out.numel() > 0) launch(a);
  return from_f32(out, dt);
}

Tensor op_layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps) {
  Backend& be = common_backend("layerNorm", {&x, gamma, beta});
  DType dt = common_dtype("layerNorm", {&x, gamma, beta});
  check(!x.shape.empty(), ErrorCode::Shape, "layerNorm: input must have at least one dim");
  const int64_t cols = x.shape.back();
  for (const Tensor* p : {gamma, beta})
    if (p)
      check(p->shape == Shape{cols}, ErrorCode::Shape, "layerNorm: affine parameter shape ", shape_str(p->shape),
            " should be [", cols, "]");
  auto launch = require_launcher(be.launch.layer_norm, "layerNorm", be);
  Tensor xf = to_f32(x);
  std::optional<Tensor> gf, bf;
  if (gamma) gf = to_f32(*gamma);
  if (beta) bf = to_f32(*beta);
  Tensor out = empty_tensor(be, x.shape, DType::F32);
  LayerNormArgs a;
  a.cols = cols;
  a.rows = cols > 0 ? x.numel() / cols : 0;
  a.x = xf.f32();
  a.gamma = gf ? gf->f32() : nullptr;
  a.beta = bf ? bf->f32() : nullptr;
  a.y = out.f32();
  a.eps = eps;
  if (out.numel() > 0) launch(a);
  return from_f32(out, dt);
}

Tensor op_softmax(const Tensor& x) {
  Backend& be = x.backend();
  check(!x.shape.empty(), ErrorCode::Shape, "softmax: input must have at least one dim");
  auto launch = require_launcher(be.launch.softmax, "softmax", be);
  Tensor xf = to_f32(x);
  Tensor out = empty_tensor(be, x.shape, DType::F32);
  SoftmaxArgs a;
  a.cols = x.shape.back();
  a.rows = a.cols > 0 ? x.numel() / a.cols : 0;
  a.x = xf.f32();
  a.out = out.f32();
  if (out.numel() > 0) launch(a);
  return from_f32(out, x.dtype);
}

Tensor op_binary(const Tensor& a, const Tensor& b, BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div"};
  const char* name = names[static_cast<int>(op)];
  Backend& be = common_backend(name, {&a, &b});
  DType dt = common_dtype(name, {&a, &b});
  Shape out_shape = broadcast_shapes(a.shape, b.shape, name);
  check(out_shape.size() <= size_t(kMaxDims), ErrorCode::Shape, name, ": at most ", kMaxDims, " dims supported");
  auto launch = require_launcher(be.launch.binary, name, be);
  Tensor af = to_f32(a), bf = to_f32(b);
  Tensor out = empty_tensor(be, out_shape, DType::F32);
  BinaryArgs args;
  args.ndim = static_cast<int>(out_shape.size());
  Shape sa = contiguous_strides(a.shape), sb = contiguous_strides(b.shape);
  const size_t nd = out_shape.size();
  for (size_t i = 0; i < nd; i++) {
    args.shape[i] = out_shape[i];
    size_t ia = i + a.shape.size(), ib = i + b.shape.size();  // index + own ndim; valid when >= nd
    args.stride_a[i] = ia < nd || a.shape[ia - nd] == 1 ? 0 : sa[ia - nd];
    args.stride_b[i] = ib < nd || b.shape[ib - nd] == 1 ? 0 : sb[ib - nd];
  }
  args.a = af.f32();
  args.b = bf.f32();
  args.out = out.f32();
  args.op = op;
  if (out.numel() > 0) launch(args);
  return from_f32(out, dt);
}

Tensor op_unary(const Tensor& x, UnaryOp op, float alpha, float beta) {
  Backend& be = x.backend();
  auto launch = require_launcher(be.launch.unary, "unary", be);
  Tensor xf = to_f32(x);
  Tensor out = empty_tensor(be, x.shape, DType::F32);
  UnaryArgs a;
  a.n = x.numel();
  a.x = xf.f32();
  a.out = out.f32();
  a.op = op;
  a.alpha = alpha;
  a.beta = beta;
  if (a.n > 0) launch(a);
  return from_f32(out, x.dtype);
}

Tensor op_geglu(const Tensor& x, bool tanh_approx) {
  Backend& be = x.backend();
  check(!x.shape.empty() && x.shape.back() % 2 == 0, ErrorCode::Shape,
        "geglu: last dim must be even (hidden and gate halves), got ", shape_str(x.shape));
  auto launch = require_launcher(be.launch.geglu, "geglu", be);
  Tensor xf = to_f32(x);
  Shape out_shape = x.shape;
  out_shape.back() /= 2;
  Tensor out = empty_tensor(be, out_shape, DType::F32);
  GegluArgs a;
  a.cols = out_shape.back();
  a.rows = a.cols > 0 ? out.numel() / a.cols : 0;
  a.x = xf.f32();
  a.out = out.f32();
  a.tanh_approx = tanh_approx;
  if (out.numel() > 0) launch(a);
  return from_f32(out, x.dtype);
}

Tensor op_upsample2x(const Tensor& x) {
  Backend& be = x.backend();
  check(x.shape.size() == 4, ErrorCode::Shape, "upsample2x: input must be [N, C, H, W], got ", shape_str(x.shape));
  auto launch = require_launcher(be.launch.upsample2x, "upsample2x", be);
  Tensor xf = to_f32(x);
  Tensor out = empty_tensor(be, Shape{x.shape[0], x.shape[1], 2 * x.shape[2], 2 * x.shape[3]}, DType::F32);
  Upsample2xArgs a;
  a.planes = x.shape[0] * x.shape[1];
  a.h = x.shape[2];
  a.w = x.shape[3];
  a.x = xf.f32();
  a.out = out.f32();
  if (out.numel() > 0) launch(a);
  return from_f32(out, x.dtype);
}

Tensor op_timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float downscale_freq_shift,
                             float scale, float max_period) {
  Backend& be = t.backend();
  check(t.shape.size() == 1, ErrorCode::Shape, "timestepEmbedding: timesteps must be 1-d, got ", shape_str(t.shape));
  check(dim >= 2, ErrorCode::Arg, "timestepEmbedding: dim must be >= 2, got ", dim);
  check(double(dim / 2) != double(downscale_freq_shift), ErrorCode::Arg,
        "timestepEmbedding: dim/2 equals downscaleFreqShift (division by zero)");
  auto launch = require_launcher(be.launch.timestep_embedding, "timestepEmbedding", be);
  Tensor tf = to_f32(t);
  Tensor out = empty_tensor(be, Shape{t.shape[0], dim}, DType::F32);
  TimestepEmbeddingArgs a;
  a.n = t.shape[0];
  a.dim = dim;
  a.t = tf.f32();
  a.out = out.f32();
  a.flip_sin_to_cos = flip_sin_to_cos;
  a.downscale_freq_shift = downscale_freq_shift;
  a.scale = scale;
  a.max_period = max_period;
  if (out.numel() > 0) launch(a);
  return from_f32(out, t.dtype);
}

double op_reduce(const Tensor& a, const Tensor* b, ReduceOp op) {
  static const char* names[] = {"l1Norm", "relativeL1", "cosineSimilarity"};
  const char* name = names[static_cast<int>(op)];
  Backend& be = common_backend(name, {&a, b});
  common_dtype(name, {&a, b});
  if (op != ReduceOp::L1) {
    check(b != nullptr, ErrorCode::Arg, name, ": needs two tensors");
    check(a.shape == b->shape, ErrorCode::Shape, name, ": shapes differ: ", shape_str(a.shape), " vs ",
          shape_str(b->shape));
  }
  auto launch = require_launcher(be.launch.reduce, name, be);
  Tensor af = to_f32(a);
  std::optional<Tensor> bf;
  if (b) bf = to_f32(*b);
  ReduceArgs r;
  r.n = a.numel();
  r.a = af.f32();
  r.b = bf ? bf->f32() : nullptr;
  r.op = op;
  Tensor scratch = empty_tensor(be, Shape{kReduceScratchBytes / 4}, DType::F32);
  r.scratch = scratch.raw();
  return launch(r);
}

}  // namespace hgc
