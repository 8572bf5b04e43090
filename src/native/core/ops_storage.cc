// Creation, copies between host and devices, casts and the layout ops (strided copies).
#include <cstring>

#include "op_util.h"

namespace hgc {
using namespace detail;

Tensor op_full(Backend& backend, const Shape& shape, DType dtype, float value) {
  Tensor t = empty_tensor(backend, shape, dtype);
  require_launcher(backend.launch.fill, "full", backend)(t.raw(), dtype, t.numel(), value);
  return t;
}

Tensor op_randn(Backend& backend, const Shape& shape, DType dtype, uint64_t seed) {
  Tensor t = empty_tensor(backend, shape, dtype);
  require_launcher(backend.launch.randn, "randn", backend)(t.raw(), dtype, t.numel(), seed);
  return t;
}

Tensor op_from_host(Backend& backend, const Shape& shape, DType dtype, const void* data, size_t bytes) {
  Tensor t = empty_tensor(backend, shape, dtype);
  check(bytes == t.nbytes(), ErrorCode::Shape, "tensor: ", bytes / dtype_size(dtype), " values given for shape ",
        shape_str(shape), " (", t.numel(), " expected)");
  backend.copy_from_host(t.raw(), data, bytes);
  return t;
}

void op_to_host(const Tensor& t, void* dst, size_t bytes) {
  check(bytes == t.nbytes(), ErrorCode::Arg, "data: destination holds ", bytes, " bytes, tensor has ", t.nbytes());
  t.backend().copy_to_host(dst, t.raw(), bytes);
}

Tensor op_to_device(const Tensor& t, Backend& backend) {
  if (&backend == &t.backend()) return t;
  Tensor out = empty_tensor(backend, t.shape, t.dtype);
  if (t.backend().name == "cpu") {
    backend.copy_from_host(out.raw(), t.raw(), t.nbytes());
  } else if (backend.name == "cpu") {
    t.backend().copy_to_host(out.raw(), t.raw(), t.nbytes());
  } else {  // device to device through the host
    std::vector<char> staging(t.nbytes());
    t.backend().copy_to_host(staging.data(), t.raw(), t.nbytes());
    backend.copy_from_host(out.raw(), staging.data(), t.nbytes());
  }
  return out;
}

Tensor op_cast(const Tensor& t, DType dtype) {
  if (t.dtype == dtype) return t;
  Backend& b = t.backend();
  Tensor out = empty_tensor(b, t.shape, dtype);
  require_launcher(b.launch.cast, "cast", b)(t.raw(), t.dtype, out.raw(), dtype, t.numel());
  return out;
}

Tensor op_clone(const Tensor& t) {
  Tensor out = empty_tensor(t.backend(), t.shape, t.dtype);
  if (t.nbytes()) t.backend().copy_device(out.raw(), t.raw(), t.nbytes());
  return out;
}

void op_copy_into(const Tensor& dst, const Tensor& src) {
  check(&dst.backend() == &src.backend(), ErrorCode::Device, "copyInto: source is on '", src.device(),
        "', destination on '", dst.device(), "'");
  check(dst.dtype == src.dtype, ErrorCode::DType, "copyInto: source is ", dtype_name(src.dtype), ", destination ",
        dtype_name(dst.dtype));
  check(dst.shape == src.shape, ErrorCode::Shape, "copyInto: source shape ", shape_str(src.shape),
        " differs from destination shape ", shape_str(dst.shape));
  if (dst.nbytes() && dst.raw() != src.raw()) dst.backend().copy_device(dst.raw(), src.raw(), dst.nbytes());
}

namespace {

void run_strided_copy(Backend& b, const char* op, const Shape& shape, const Shape& stride_src, const Shape& stride_dst,
                      const void* src, void* dst, DType dtype) {
  check(shape.size() <= size_t(kMaxDims), ErrorCode::Shape, op, ": at most ", kMaxDims, " dimensions supported, got ",
        shape.size());
  StridedCopyArgs args;
  args.ndim = static_cast<int>(shape.size());
  for (size_t d = 0; d < shape.size(); d++) {
    args.shape[d] = shape[d];
    args.stride_src[d] = stride_src[d];
    args.stride_dst[d] = stride_dst[d];
  }
  args.src = src;
  args.dst = dst;
  args.elem_size = static_cast<int64_t>(dtype_size(dtype));
  require_launcher(b.launch.strided_copy, op, b)(args);
}

}  // namespace

Tensor op_permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const size_t nd = x.shape.size();
  check(dims.size() == nd, ErrorCode::Arg, "permute: ", dims.size(), " dims given for a ", nd, "-d tensor ",
        shape_str(x.shape));
  std::vector<bool> seen(nd, false);
  Shape out_shape(nd), src_strides(nd);
  Shape in_strides = contiguous_strides(x.shape);
  for (size_t i = 0; i < nd; i++) {
    int64_t d = normalize_dim(dims[i], nd, "permute");
    check(!seen[d], ErrorCode::Arg, "permute: dim ", d, " repeated in ", shape_str(Shape(dims)));
    seen[d] = true;
    out_shape[i] = x.shape[d];
    src_strides[i] = in_strides[d];
  }
  Tensor out = empty_tensor(x.backend(), out_shape, x.dtype);
  run_strided_copy(x.backend(), "permute", out_shape, src_strides, contiguous_strides(out_shape), x.raw(), out.raw(),
                   x.dtype);
  return out;
}

Tensor op_slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  const size_t nd = x.shape.size();
  int64_t d = normalize_dim(dim, nd, "slice");
  int64_t size = x.shape[d];
  if (start < 0) start += size;
  if (end < 0) end += size;
  check(start >= 0 && end <= size && start <= end, ErrorCode::Arg, "slice: range [", start, ", ", end,
        ") is outside dim ", d, " of size ", size, " in ", shape_str(x.shape));
  Shape out_shape = x.shape;
  out_shape[d] = end - start;
  Tensor out = empty_tensor(x.backend(), out_shape, x.dtype);
  Shape in_strides = contiguous_strides(x.shape);
  const char* src = static_cast<const char*>(x.raw()) + start * in_strides[d] * int64_t(dtype_size(x.dtype));
  run_strided_copy(x.backend(), "slice", out_shape, in_strides, contiguous_strides(out_shape), src, out.raw(), x.dtype);
  return out;
}

Tensor op_concat(const std::vector<Tensor>& xs, int64_t dim) {
  check(!xs.empty(), ErrorCode::Arg, "concat: no tensors given");
  const Tensor& first = xs[0];
  const size_t nd = first.shape.size();
  int64_t d = normalize_dim(dim, nd, "concat");
  Shape out_shape = first.shape;
  out_shape[d] = 0;
  for (size_t i = 0; i < xs.size(); i++) {
    const Tensor& t = xs[i];
    check(&t.backend() == &first.backend(), ErrorCode::Device, "concat: tensor ", i, " is on '", t.device(),
          "', tensor 0 on '", first.device(), "'");
    check(t.dtype == first.dtype, ErrorCode::DType, "concat: tensor ", i, " is ", dtype_name(t.dtype),
          ", tensor 0 is ", dtype_name(first.dtype));
    bool same = t.shape.size() == nd;
    for (size_t k = 0; same && k < nd; k++) same = (int64_t(k) == d) || t.shape[k] == first.shape[k];
    check(same, ErrorCode::Shape, "concat: tensor ", i, " has shape ", shape_str(t.shape), ", incompatible with ",
          shape_str(first.shape), " along dim ", d);
    out_shape[d] += t.shape[d];
  }
  Tensor out = empty_tensor(first.backend(), out_shape, first.dtype);
  Shape out_strides = contiguous_strides(out_shape);
  int64_t offset = 0;
  for (const Tensor& t : xs) {
    char* dst = static_cast<char*>(out.raw()) + offset * out_strides[d] * int64_t(dtype_size(t.dtype));
    if (t.numel() > 0)
      run_strided_copy(t.backend(), "concat", t.shape, contiguous_strides(t.shape), out_strides, t.raw(), dst, t.dtype);
    offset += t.shape[d];
  }
  return out;
}

}  // namespace hgc
