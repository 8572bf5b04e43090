// Entry of multi-head attention in its three modes (compute, capture, replay).
#include <cmath>

#include "op_util.h"

namespace hgc {
using namespace detail;

namespace {
const char* mode_name(AttentionMode m) {
  return m == AttentionMode::Compute ? "compute" : m == AttentionMode::Capture ? "capture" : "replay";
}
}  // namespace

Tensor op_attention(const Tensor* q, const Tensor* k, const Tensor& v, const AttentionOptions& o) {
  const bool replay = o.mode == AttentionMode::Replay;
  Backend& be = common_backend("attention", {q, k, &v, o.probs});
  DType dt = common_dtype("attention", {q, k, &v});
  check(v.shape.size() == 3, ErrorCode::Shape, "attention: v must be [batch, m, channels], got ", shape_str(v.shape));
  check(o.heads >= 1, ErrorCode::Arg, "attention: heads must be >= 1, got ", o.heads);
  const int64_t batch = v.shape[0], m = v.shape[1], channels = v.shape[2];
  check(channels % o.heads == 0, ErrorCode::Shape, "attention: ", channels, " channels do not split into ", o.heads,
        " heads");
  check(m >= 1, ErrorCode::Shape, "attention: needs at least one key, got v ", shape_str(v.shape));
  const int64_t head_dim = channels / o.heads;
  int64_t n = 0;
  if (!replay) {
    check(q && k, ErrorCode::Arg, "attention: q and k are required in ", mode_name(o.mode), " mode");
    check(q->shape.size() == 3 && q->shape[0] == batch && q->shape[2] == channels, ErrorCode::Shape,
          "attention: q ", shape_str(q->shape), " does not match v ", shape_str(v.shape),
          " (expected [", batch, ", n, ", channels, "])");
    check(k->shape == v.shape, ErrorCode::Shape, "attention: k ", shape_str(k->shape), " and v ", shape_str(v.shape),
          " must have the same shape");
    n = q->shape[1];
    check(!o.causal || m >= n, ErrorCode::Shape, "attention: causal mask needs m >= n, got n = ", n, ", m = ", m);
  }
  if (o.mode != AttentionMode::Compute) {
    check(o.probs != nullptr, ErrorCode::Arg, "attention: ", mode_name(o.mode), " mode needs a probs buffer");
    check(o.probs->dtype == DType::F32, ErrorCode::DType, "attention: probs must be f32, got ",
          dtype_name(o.probs->dtype));
    if (replay) {
      check(o.probs->shape.size() == 4, ErrorCode::Shape, "attention: probs must be [batch, heads, n, m], got ",
            shape_str(o.probs->shape));
      n = o.probs->shape[2];
    }
    Shape expected{batch, o.heads, n, m};
    check(o.probs->shape == expected, ErrorCode::Shape, "attention: probs shape ", shape_str(o.probs->shape),
          " should be ", shape_str(expected), " in ", mode_name(o.mode), " mode");
  }
  auto attn = require_launcher(be.launch.attention, "attention", be);

  // Sizes, strides and options of either launcher.
  auto describe = [&](auto& a) {
    a.batch = batch;
    a.n = n;
    a.m = m;
    a.heads = o.heads;
    a.head_dim = head_dim;
    a.q_row_stride = a.k_row_stride = a.v_row_stride = a.out_row_stride = channels;
    a.scale = o.scale ? *o.scale : (head_dim > 0 ? 1.0f / std::sqrt(float(head_dim)) : 1.0f);
    a.causal = o.causal;
    a.mode = o.mode;
    a.probs = o.probs ? o.probs->f32() : nullptr;
  };

  // Half-precision tensors go straight to a backend's half launcher when it has one.
  if (dt != DType::F32 && be.launch.attention_half && head_dim <= kAttentionHalfMaxHeadDim) {
    Tensor out = empty_tensor(be, Shape{batch, n, channels}, dt);
    AttentionHalfArgs a;
    describe(a);
    a.dtype = dt;
    a.q = q && !replay ? q->raw() : nullptr;
    a.k = k && !replay ? k->raw() : nullptr;
    a.v = v.raw();
    a.out = out.raw();
    if (out.numel() > 0) be.launch.attention_half(a);
    return out;
  }

  std::optional<Tensor> qf, kf;
  if (!replay) {
    qf = to_f32(*q);
    kf = to_f32(*k);
  }
  Tensor vf = to_f32(v);
  Tensor out = empty_tensor(be, Shape{batch, n, channels}, DType::F32);
  AttentionArgs a;
  describe(a);
  a.q = qf ? qf->f32() : nullptr;
  a.k = kf ? kf->f32() : nullptr;
  a.v = vf.f32();
  a.out = out.f32();
  if (out.numel() > 0) attn(a);
  return from_f32(out, dt);
}

Tensor op_attention_slices(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionSliceOptions& o) {
  Backend& be = common_backend("attentionSlices", {&q, &k, &v});
  for (const Tensor* t : {&q, &k, &v}) {
    check(t->dtype == DType::F32, ErrorCode::DType, "attentionSlices: f32 tensors only, got ", dtype_name(t->dtype));
    check(t->shape.size() == 3, ErrorCode::Shape, "attentionSlices: [batch, tokens, width] expected, got ",
          shape_str(t->shape));
  }
  const int64_t batch = q.shape[0], n = q.shape[1], m = k.shape[1];
  check(k.shape[0] == batch && v.shape[0] == batch && v.shape[1] == m && m >= 1, ErrorCode::Shape,
        "attentionSlices: q ", shape_str(q.shape), ", k ", shape_str(k.shape), ", v ", shape_str(v.shape),
        " do not match");
  check(o.heads >= 1 && o.channels >= o.heads && o.channels % o.heads == 0, ErrorCode::Arg, "attentionSlices: ",
        o.channels, " channels do not split into ", o.heads, " heads");
  check(!o.causal || m >= n, ErrorCode::Shape, "attentionSlices: causal mask needs m >= n");
  auto fits = [&](int64_t offset, int64_t width, const char* what) {
    check(offset >= 0 && offset + o.channels <= width, ErrorCode::Arg, "attentionSlices: ", what, " columns [", offset,
          ", ", offset + o.channels, ") outside width ", width);
  };
  fits(o.q_offset, q.shape[2], "q");
  fits(o.k_offset, k.shape[2], "k");
  fits(o.v_offset, v.shape[2], "v");
  fits(o.out_offset, o.out_width, "out");
  auto attn = require_launcher(be.launch.attention, "attentionSlices", be);
  auto fill = require_launcher(be.launch.fill, "attentionSlices", be);
  Tensor out = empty_tensor(be, Shape{batch, n, o.out_width}, DType::F32);
  if (out.numel() == 0) return out;
  fill(out.raw(), DType::F32, out.numel(), 0.0f);
  AttentionArgs a;
  a.batch = batch;
  a.n = n;
  a.m = m;
  a.heads = o.heads;
  a.head_dim = o.channels / o.heads;
  a.q = q.f32() + o.q_offset;
  a.k = k.f32() + o.k_offset;
  a.v = v.f32() + o.v_offset;
  a.q_row_stride = q.shape[2];
  a.k_row_stride = k.shape[2];
  a.v_row_stride = v.shape[2];
  a.out = out.f32() + o.out_offset;
  a.out_row_stride = o.out_width;
  a.scale = 1.0f / std::sqrt(float(a.head_dim));
  a.causal = o.causal;
  if (n > 0) attn(a);
  return out;
}

}  // namespace hgc
