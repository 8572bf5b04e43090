// Entries of the tensor-core-shaped ops: batched matmul with fused epilogue, and 2-D convolution.
#include "op_util.h"

namespace hgc {
using namespace detail;

Tensor op_matmul(const Tensor& a, const Tensor& b, const MatmulOptions& o) {
  Backend& be = common_backend("matmul", {&a, &b, o.bias, o.residual});
  DType dt = common_dtype("matmul", {&a, &b, o.bias, o.residual});
  check(a.shape.size() >= 2 && b.shape.size() >= 2, ErrorCode::Shape, "matmul: operands need at least 2 dims, got ",
        shape_str(a.shape), " and ", shape_str(b.shape));
  const size_t na = a.shape.size(), nb = b.shape.size();
  const int64_t m = o.trans_a ? a.shape[na - 1] : a.shape[na - 2];
  const int64_t ka = o.trans_a ? a.shape[na - 2] : a.shape[na - 1];
  const int64_t kb = o.trans_b ? b.shape[nb - 1] : b.shape[nb - 2];
  const int64_t n = o.trans_b ? b.shape[nb - 2] : b.shape[nb - 1];
  check(ka == kb, ErrorCode::Shape, "matmul: inner dimensions differ: ", shape_str(a.shape),
        o.trans_a ? "ᵀ" : "", " · ", shape_str(b.shape), o.trans_b ? "ᵀ" : "", " (", ka, " vs ", kb, ")");
  // Batch dims: equal, or one side has none (a shared 2-D weight or input).
  Shape batch_a(a.shape.begin(), a.shape.end() - 2), batch_b(b.shape.begin(), b.shape.end() - 2);
  Shape batch;
  if (batch_b.empty()) batch = batch_a;
  else if (batch_a.empty()) batch = batch_b;
  else {
    check(batch_a == batch_b, ErrorCode::Shape, "matmul: batch dims differ: ", shape_str(a.shape), " vs ",
          shape_str(b.shape));
    batch = batch_a;
  }
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  if (o.bias)
    check(o.bias->shape == Shape{n}, ErrorCode::Shape, "matmul: bias shape ", shape_str(o.bias->shape),
          " should be [", n, "]");
  if (o.residual)
    check(o.residual->shape == out_shape, ErrorCode::Shape, "matmul: residual shape ", shape_str(o.residual->shape),
          " should equal the output shape ", shape_str(out_shape));
  auto gemm = require_launcher(be.launch.gemm, "matmul", be);

  // Sizes, leading dims and batch strides (0 = an operand shared by the whole batch) of either launcher.
  auto describe = [&](auto& g) {
    g.batch = shape_numel(batch);
    g.m = m;
    g.n = n;
    g.k = ka;
    g.lda = a.shape[na - 1];
    g.stride_a = batch_a.empty() ? 0 : m * ka;
    g.trans_a = o.trans_a;
    g.ldb = b.shape[nb - 1];
    g.stride_b = batch_b.empty() ? 0 : kb * n;
    g.trans_b = o.trans_b;
    g.ldc = n;
    g.stride_c = m * n;
    g.stride_residual = m * n;
    g.act = o.act;
  };

  // Half-precision operands go straight to a backend's tensor-core launcher when it has one.
  if (dt != DType::F32 && be.launch.gemm_half) {
    Tensor out = empty_tensor(be, out_shape, dt);
    GemmHalfArgs g;
    describe(g);
    g.dtype = dt;
    g.a = a.raw();
    g.b = b.raw();
    g.c = out.raw();
    g.bias = o.bias ? o.bias->raw() : nullptr;
    g.residual = o.residual ? o.residual->raw() : nullptr;
    if (out.numel() > 0) be.launch.gemm_half(g);
    return out;
  }

  Tensor af = to_f32(a), bf = to_f32(b);
  std::optional<Tensor> biasf, resf;
  if (o.bias) biasf = to_f32(*o.bias);
  if (o.residual) resf = to_f32(*o.residual);
  Tensor out = empty_tensor(be, out_shape, DType::F32);
  GemmArgs g;
  describe(g);
  g.a = af.f32();
  g.b = bf.f32();
  g.c = out.f32();
  g.bias = biasf ? biasf->f32() : nullptr;
  g.residual = resf ? resf->f32() : nullptr;
  if (out.numel() > 0) gemm(g);
  return from_f32(out, dt);
}

Tensor op_conv2d(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  Backend& be = common_backend("conv2d", {&x, &w, o.bias, o.residual, o.norm_weight, o.norm_bias});
  DType dt = common_dtype("conv2d", {&x, &w, o.bias, o.residual, o.norm_weight, o.norm_bias});
  check(x.shape.size() == 4, ErrorCode::Shape, "conv2d: input must be [N, C, H, W], got ", shape_str(x.shape));
  check(w.shape.size() == 4, ErrorCode::Shape, "conv2d: weight must be [Cout, Cin, kh, kw], got ", shape_str(w.shape));
  check(x.shape[1] == w.shape[1], ErrorCode::Shape, "conv2d: input has ", x.shape[1], " channels ",
        shape_str(x.shape), " but weight expects ", w.shape[1], " ", shape_str(w.shape), " (groups = 1 only)");
  check(o.stride >= 1, ErrorCode::Arg, "conv2d: stride must be >= 1, got ", o.stride);
  check(o.padding >= 0, ErrorCode::Arg, "conv2d: padding must be >= 0, got ", o.padding);
  const int64_t h = x.shape[2], wd = x.shape[3], kh = w.shape[2], kw = w.shape[3];
  check(kh >= 1 && kw >= 1, ErrorCode::Shape, "conv2d: empty kernel ", shape_str(w.shape));
  check(h + 2 * o.padding >= kh && wd + 2 * o.padding >= kw, ErrorCode::Shape, "conv2d: kernel ", kh, "×", kw,
        " is larger than the padded input ", h + 2 * o.padding, "×", wd + 2 * o.padding);
  const int64_t oh = (h + 2 * o.padding - kh) / o.stride + 1, ow = (wd + 2 * o.padding - kw) / o.stride + 1;
  Shape out_shape{x.shape[0], w.shape[0], oh, ow};
  if (o.bias)
    check(o.bias->shape == Shape{w.shape[0]}, ErrorCode::Shape, "conv2d: bias shape ", shape_str(o.bias->shape),
          " should be [", w.shape[0], "]");
  if (o.residual)
    check(o.residual->shape == out_shape, ErrorCode::Shape, "conv2d: residual shape ", shape_str(o.residual->shape),
          " should equal the output shape ", shape_str(out_shape));
  const bool norm = o.norm_groups > 0;
  if (norm) {
    check(x.shape[1] % o.norm_groups == 0, ErrorCode::Arg, "conv2d: ", x.shape[1], " input channels of ",
          shape_str(x.shape), " do not split into ", o.norm_groups, " GroupNorm groups");
    for (const Tensor* p : {o.norm_weight, o.norm_bias})
      if (p)
        check(p->shape == Shape{x.shape[1]}, ErrorCode::Shape, "conv2d: GroupNorm parameter shape ", shape_str(p->shape),
              " should be [", x.shape[1], "]");
  }
  auto conv = require_launcher(be.launch.conv2d, "conv2d", be);
  if (norm && !be.launch.conv2d_fuses_group_norm) {  // unfused: normalise first, then convolve
    Tensor xn = op_group_norm(x, o.norm_groups, o.norm_weight, o.norm_bias, o.norm_eps, o.norm_silu);
    Conv2dOptions plain = o;
    plain.norm_groups = 0;
    return op_conv2d(xn, w, plain);
  }
  auto describe = [&](Conv2dSizes& c) {
    c.n = x.shape[0];
    c.cin = x.shape[1];
    c.h = h;
    c.w = wd;
    c.cout = w.shape[0];
    c.kh = kh;
    c.kw = kw;
    c.stride = o.stride;
    c.pad = o.padding;
    c.oh = oh;
    c.ow = ow;
    c.norm_groups = norm ? o.norm_groups : 0;
  };
  // Backend scratch for the launcher, when it asks for some.
  std::optional<Tensor> scratch;
  auto scratch_for = [&](const Conv2dSizes& c) -> void* {
    if (!be.launch.conv2d_scratch_bytes) return nullptr;
    scratch = empty_tensor(be, Shape{(be.launch.conv2d_scratch_bytes(c) + 3) / 4}, DType::F32);
    return scratch->raw();
  };

  // 16-bit tensors go straight to a backend's 16-bit launcher when it has one (no f32 round trip).
  if (dt != DType::F32 && be.launch.conv2d_half && !norm) {
    Tensor out = empty_tensor(be, out_shape, dt);
    if (out.numel() == 0) return out;
    Conv2dHalfArgs c;
    describe(c);
    c.dtype = dt;
    c.x = x.raw();
    c.weight = w.raw();
    c.bias = o.bias ? o.bias->raw() : nullptr;
    c.residual = o.residual ? o.residual->raw() : nullptr;
    c.y = out.raw();
    c.scratch = scratch_for(c);
    be.launch.conv2d_half(c);
    return out;
  }

  Tensor xf = to_f32(x), wf = to_f32(w);
  std::optional<Tensor> biasf, resf, gammaf, betaf;
  if (o.bias) biasf = to_f32(*o.bias);
  if (o.residual) resf = to_f32(*o.residual);
  if (norm && o.norm_weight) gammaf = to_f32(*o.norm_weight);
  if (norm && o.norm_bias) betaf = to_f32(*o.norm_bias);
  Tensor out = empty_tensor(be, out_shape, DType::F32);
  if (out.numel() == 0) return from_f32(out, dt);
  Conv2dArgs c;
  describe(c);
  c.x = xf.f32();
  c.weight = wf.f32();
  c.bias = biasf ? biasf->f32() : nullptr;
  c.residual = resf ? resf->f32() : nullptr;
  c.y = out.f32();
  c.norm_gamma = gammaf ? gammaf->f32() : nullptr;
  c.norm_beta = betaf ? betaf->f32() : nullptr;
  c.norm_eps = o.norm_eps;
  c.norm_silu = o.norm_silu;
  c.scratch = scratch_for(c);
  conv(c);
  return from_f32(out, dt);
}

}  // namespace hgc
