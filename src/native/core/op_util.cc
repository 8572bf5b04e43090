#include "op_util.h"

namespace hgc::detail {

Backend& common_backend(const char* op, std::initializer_list<const Tensor*> tensors) {
  Backend* found = nullptr;
  for (const Tensor* t : tensors) {
    if (!t) continue;
    if (!found) {
      found = &t->backend();
      continue;
    }
    check(&t->backend() == found, ErrorCode::Device, op, ": tensors are on different devices ('", found->name,
          "' and '", t->device(), "')");
  }
  check(found != nullptr, ErrorCode::Arg, op, ": no tensor given");
  return *found;
}

DType common_dtype(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t) continue;
    if (!first) {
      first = t;
      continue;
    }
    check(t->dtype == first->dtype, ErrorCode::DType, op, ": mixed dtypes ", dtype_name(first->dtype), " and ",
          dtype_name(t->dtype), " (convert with .cast() first)");
  }
  check(first != nullptr, ErrorCode::Arg, op, ": no tensor given");
  return first->dtype;
}

Tensor to_f32(const Tensor& t) { return t.dtype == DType::F32 ? t : op_cast(t, DType::F32); }

Tensor from_f32(const Tensor& t, DType dtype) { return dtype == DType::F32 ? t : op_cast(t, dtype); }

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

int64_t normalize_dim(int64_t dim, size_t ndim, const char* op) {
  int64_t n = static_cast<int64_t>(ndim);
  check(dim >= -n && dim < n, ErrorCode::Arg, op, ": dim ", dim, " is out of range for a ", n, "-d tensor");
  return dim < 0 ? dim + n : dim;
}

}  // namespace hgc::detail
