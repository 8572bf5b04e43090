// Tensors of the native core: a shape, a dtype and contiguous storage on one backend. Storage is
// reference-counted; its memory returns to the backend's caching allocator when the last owner drops it.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "hgc/backend.h"
#include "hgc/dtype.h"
#include "hgc/shape.h"

namespace hgc {

class Storage {
 public:
  Storage(Backend& backend, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Backend& backend() const { return backend_; }
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }

  static int64_t live_count() { return live_.load(); }
  static int64_t live_bytes() { return live_bytes_.load(); }

 private:
  Backend& backend_;
  void* ptr_ = nullptr;
  std::shared_ptr<PrivatePool> pool_;  // set when allocated during a graph capture (include/hgc/allocator.h)
  size_t bytes_ = 0;
  size_t rounded_ = 0;
  static std::atomic<int64_t> live_, live_bytes_;
};

struct Tensor {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::F32;

  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  Backend& backend() const { return storage->backend(); }
  const std::string& device() const { return storage->backend().name; }
  void* raw() const { return storage->data(); }
  float* f32() const { return static_cast<float*>(storage->data()); }
};

// A new uninitialised tensor on `backend`.
Tensor empty_tensor(Backend& backend, const Shape& shape, DType dtype);

}  // namespace hgc
