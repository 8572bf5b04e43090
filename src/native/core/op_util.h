// Shared checks of the op entries: devices, dtypes, launchers and the f16/bf16 ↔ f32 round trip.
#pragma once
#include <initializer_list>
#include <string>

#include "hgc/ops.h"

namespace hgc::detail {

// All given tensors (nulls skipped) must live on one device; returns it.
Backend& common_backend(const char* op, std::initializer_list<const Tensor*> tensors);

// All given tensors (nulls skipped) must share one dtype; returns it.
DType common_dtype(const char* op, std::initializer_list<const Tensor*> tensors);

// The launcher, or Error(DEVICE) saying the op is not implemented on that device.
template <typename Fn>
Fn require_launcher(Fn fn, const char* op, const Backend& backend) {
  check(fn != nullptr, ErrorCode::Device, op, " is not implemented on device '", backend.name, "'");
  return fn;
}

// t itself when already f32, else an f32 copy on the same device.
Tensor to_f32(const Tensor& t);
// Converts an f32 result back to `dtype` (no copy when dtype is f32).
Tensor from_f32(const Tensor& t, DType dtype);

// Element strides of a contiguous shape.
Shape contiguous_strides(const Shape& shape);

// Normalises a possibly negative dimension index; Error(ARG) when out of range.
int64_t normalize_dim(int64_t dim, size_t ndim, const char* op);

}  // namespace hgc::detail
