#include "hgc/tensor.h"

namespace hgc {

std::atomic<int64_t> Storage::live_{0};
std::atomic<int64_t> Storage::live_bytes_{0};

Storage::Storage(Backend& backend, size_t bytes) : backend_(backend), bytes_(bytes) {
  ptr_ = backend.allocator->allocate(bytes, &rounded_, &pool_);
  live_++;
  live_bytes_ += static_cast<int64_t>(bytes);
}

Storage::~Storage() {
  backend_.allocator->release(ptr_, rounded_, pool_.get());
  live_--;
  live_bytes_ -= static_cast<int64_t>(bytes_);
}

Tensor empty_tensor(Backend& backend, const Shape& shape, DType dtype) {
  check(backend.available, ErrorCode::Device, "device '", backend.name, "' is not available: ", backend.reason);
  Tensor t;
  t.shape = shape;
  t.dtype = dtype;
  t.storage = std::make_shared<Storage>(backend, t.nbytes());
  return t;
}

}  // namespace hgc
