// Bindings for the compute ops. Options objects mirror the TypeScript ops (src/ops/).
#include <cmath>

#include "args.h"
#include "bindings.h"
#include "guard.h"
#include "hgc/ops.h"
#include "tensor_handle.h"

namespace hgc::addon {
namespace {

Activation read_activation(const std::optional<std::string>& s, const char* op) {
  if (!s || *s == "none") return Activation::None;
  if (*s == "gelu") return Activation::GeluErf;
  if (*s == "gelu_tanh") return Activation::GeluTanh;
  if (*s == "silu") return Activation::Silu;
  if (*s == "quick_gelu") return Activation::QuickGelu;
  fail(ErrorCode::Arg, op, ": unknown activation '", *s, "' (none, gelu, gelu_tanh, silu, quick_gelu)");
}

float opt_float(const Napi::Object& o, const char* key, const char* op, float fallback) {
  std::optional<double> v = opt_number(o, key, op);
  return v ? static_cast<float>(*v) : fallback;
}

const Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return TensorHandle::Get(arg(info, i), what);
}

const Tensor* nullable_tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  Napi::Value v = arg(info, i);
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return &TensorHandle::Get(v, what);
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& a = tensor_arg(info, 0, "matmul: a");
    const Tensor& b = tensor_arg(info, 1, "matmul: b");
    Napi::Object o = read_options(arg(info, 2), "matmul");
    MatmulOptions m;
    m.trans_a = opt_bool(o, "transA", "matmul");
    m.trans_b = opt_bool(o, "transB", "matmul");
    m.bias = opt_tensor(o, "bias", "matmul");
    m.residual = opt_tensor(o, "residual", "matmul");
    m.act = read_activation(opt_string(o, "activation", "matmul"), "matmul");
    return TensorHandle::Wrap(info.Env(), op_matmul(a, b, m));
  });
}

Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& x = tensor_arg(info, 0, "conv2d: x");
    const Tensor& w = tensor_arg(info, 1, "conv2d: weight");
    Napi::Object o = read_options(arg(info, 2), "conv2d");
    Conv2dOptions c;
    c.stride = opt_int(o, "stride", "conv2d", 1, 1 << 20).value_or(1);
    c.padding = opt_int(o, "padding", "conv2d", 0, 1 << 20).value_or(0);
    c.bias = opt_tensor(o, "bias", "conv2d");
    c.residual = opt_tensor(o, "residual", "conv2d");
    if (o.Has("norm") && !o.Get("norm").IsUndefined()) {
      Napi::Object n = read_options(o.Get("norm"), "conv2d norm");
      c.norm_groups = read_int(n.Get("groups"), "conv2d: norm.groups", 1, kMaxElements);
      c.norm_weight = opt_tensor(n, "weight", "conv2d norm");
      c.norm_bias = opt_tensor(n, "bias", "conv2d norm");
      c.norm_eps = opt_float(n, "eps", "conv2d norm", 1e-5f);
      c.norm_silu = opt_bool(n, "silu", "conv2d norm");
    }
    return TensorHandle::Wrap(info.Env(), op_conv2d(x, w, c));
  });
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor* q = nullable_tensor_arg(info, 0, "attention: q");
    const Tensor* k = nullable_tensor_arg(info, 1, "attention: k");
    const Tensor& v = tensor_arg(info, 2, "attention: v");
    Napi::Object o = read_options(arg(info, 3), "attention");
    AttentionOptions a;
    a.heads = opt_int(o, "heads", "attention", 1, 1 << 16).value_or(1);
    if (auto s = opt_number(o, "scale", "attention")) {
      check(std::isfinite(*s), ErrorCode::Arg, "attention: scale must be finite, got ", *s);
      a.scale = static_cast<float>(*s);
    }
    a.causal = opt_bool(o, "causal", "attention");
    std::string mode = opt_string(o, "mode", "attention").value_or("compute");
    if (mode == "compute") a.mode = AttentionMode::Compute;
    else if (mode == "capture") a.mode = AttentionMode::Capture;
    else if (mode == "replay") a.mode = AttentionMode::Replay;
    else fail(ErrorCode::Arg, "attention: unknown mode '", mode, "' (compute, capture, replay)");
    a.probs = opt_tensor(o, "probs", "attention");
    return TensorHandle::Wrap(info.Env(), op_attention(q, k, v, a));
  });
}

// attentionSlices(q, k, v, { channels, heads, qOffset, kOffset, vOffset, outOffset, outWidth, causal }): internal.
Napi::Value AttentionSlices(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& q = tensor_arg(info, 0, "attentionSlices: q");
    const Tensor& k = tensor_arg(info, 1, "attentionSlices: k");
    const Tensor& v = tensor_arg(info, 2, "attentionSlices: v");
    Napi::Object o = read_options(arg(info, 3), "attentionSlices");
    AttentionSliceOptions s;
    const char* op = "attentionSlices";
    s.channels = opt_int(o, "channels", op, 1, kMaxElements).value_or(1);
    s.heads = opt_int(o, "heads", op, 1, 1 << 16).value_or(1);
    s.q_offset = opt_int(o, "qOffset", op, 0, kMaxElements).value_or(0);
    s.k_offset = opt_int(o, "kOffset", op, 0, kMaxElements).value_or(0);
    s.v_offset = opt_int(o, "vOffset", op, 0, kMaxElements).value_or(0);
    s.out_offset = opt_int(o, "outOffset", op, 0, kMaxElements).value_or(0);
    s.out_width = opt_int(o, "outWidth", op, 1, kMaxElements).value_or(s.channels);
    s.causal = opt_bool(o, "causal", op);
    return TensorHandle::Wrap(info.Env(), op_attention_slices(q, k, v, s));
  });
}

Napi::Value GroupNorm(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& x = tensor_arg(info, 0, "groupNorm: x");
    int64_t groups = read_int(arg(info, 1), "groupNorm: groups", 1, kMaxElements);
    Napi::Object o = read_options(arg(info, 2), "groupNorm");
    float eps = opt_float(o, "eps", "groupNorm", 1e-5f);
    return TensorHandle::Wrap(info.Env(), op_group_norm(x, groups, opt_tensor(o, "weight", "groupNorm"),
                                                        opt_tensor(o, "bias", "groupNorm"), eps,
                                                        opt_bool(o, "silu", "groupNorm")));
  });
}

Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& x = tensor_arg(info, 0, "layerNorm: x");
    Napi::Object o = read_options(arg(info, 1), "layerNorm");
    float eps = opt_float(o, "eps", "layerNorm", 1e-5f);
    return TensorHandle::Wrap(info.Env(), op_layer_norm(x, opt_tensor(o, "weight", "layerNorm"),
                                                        opt_tensor(o, "bias", "layerNorm"), eps));
  });
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    return TensorHandle::Wrap(info.Env(), op_softmax(tensor_arg(info, 0, "softmax: x")));
  });
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& a = tensor_arg(info, 0, "binary: a");
    const Tensor& b = tensor_arg(info, 1, "binary: b");
    std::string op = read_string(arg(info, 2), "binary: op");
    BinaryOp bop;
    if (op == "add") bop = BinaryOp::Add;
    else if (op == "sub") bop = BinaryOp::Sub;
    else if (op == "mul") bop = BinaryOp::Mul;
    else if (op == "div") bop = BinaryOp::Div;
    else fail(ErrorCode::Arg, "binary: unknown op '", op, "'");
    return TensorHandle::Wrap(info.Env(), op_binary(a, b, bop));
  });
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& x = tensor_arg(info, 0, "unary: x");
    std::string op = read_string(arg(info, 1), "unary: op");
    UnaryOp uop;
    if (op == "affine") uop = UnaryOp::Affine;
    else if (op == "gelu") uop = UnaryOp::GeluErf;
    else if (op == "gelu_tanh") uop = UnaryOp::GeluTanh;
    else if (op == "silu") uop = UnaryOp::Silu;
    else if (op == "quick_gelu") uop = UnaryOp::QuickGelu;
    else if (op == "relu") uop = UnaryOp::Relu;
    else if (op == "tanh") uop = UnaryOp::Tanh;
    else if (op == "sigmoid") uop = UnaryOp::Sigmoid;
    else fail(ErrorCode::Arg, "unary: unknown op '", op, "'");
    float alpha = arg(info, 2).IsUndefined() ? 1.0f : static_cast<float>(read_number(arg(info, 2), "unary: alpha"));
    float beta = arg(info, 3).IsUndefined() ? 0.0f : static_cast<float>(read_number(arg(info, 3), "unary: beta"));
    return TensorHandle::Wrap(info.Env(), op_unary(x, uop, alpha, beta));
  });
}

Napi::Value Geglu(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& x = tensor_arg(info, 0, "geglu: x");
    bool tanh_approx = arg(info, 1).IsUndefined() ? false : read_bool(arg(info, 1), "geglu: tanh");
    return TensorHandle::Wrap(info.Env(), op_geglu(x, tanh_approx));
  });
}

Napi::Value Upsample2x(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    return TensorHandle::Wrap(info.Env(), op_upsample2x(tensor_arg(info, 0, "upsample2x: x")));
  });
}

Napi::Value TimestepEmbedding(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& t = tensor_arg(info, 0, "timestepEmbedding: timesteps");
    int64_t dim = read_int(arg(info, 1), "timestepEmbedding: dim", 2, 1 << 20);
    Napi::Object o = read_options(arg(info, 2), "timestepEmbedding");
    const char* op = "timestepEmbedding";
    return TensorHandle::Wrap(
        info.Env(), op_timestep_embedding(t, dim, opt_bool(o, "flipSinToCos", op), opt_float(o, "downscaleFreqShift", op, 1.0f),
                                          opt_float(o, "scale", op, 1.0f), opt_float(o, "maxPeriod", op, 10000.0f)));
  });
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& a = tensor_arg(info, 0, "reduce: a");
    const Tensor* b = nullable_tensor_arg(info, 1, "reduce: b");
    std::string op = read_string(arg(info, 2), "reduce: op");
    ReduceOp rop;
    if (op == "l1") rop = ReduceOp::L1;
    else if (op == "relativeL1") rop = ReduceOp::RelL1;
    else if (op == "cosine") rop = ReduceOp::Cosine;
    else fail(ErrorCode::Arg, "reduce: unknown op '", op, "'");
    return Napi::Number::New(info.Env(), op_reduce(a, b, rop));
  });
}

}  // namespace

void register_compute(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("conv2d", Napi::Function::New(env, Conv2d, "conv2d"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("attentionSlices", Napi::Function::New(env, AttentionSlices, "attentionSlices"));
  exports.Set("groupNorm", Napi::Function::New(env, GroupNorm, "groupNorm"));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm, "layerNorm"));
  exports.Set("softmax", Napi::Function::New(env, Softmax, "softmax"));
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  exports.Set("unary", Napi::Function::New(env, Unary, "unary"));
  exports.Set("geglu", Napi::Function::New(env, Geglu, "geglu"));
  exports.Set("upsample2x", Napi::Function::New(env, Upsample2x, "upsample2x"));
  exports.Set("timestepEmbedding", Napi::Function::New(env, TimestepEmbedding, "timestepEmbedding"));
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
}

}  // namespace hgc::addon
