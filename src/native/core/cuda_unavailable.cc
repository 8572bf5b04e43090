// Used when the addon is built without the CUDA toolkit (the node-gyp build, or HGC_CUDA=OFF): the cuda
// device is listed as unavailable with the reason.
#include "hgc/backend.h"

namespace hgc {

std::unique_ptr<Backend> make_cuda_backend() {
  auto b = std::make_unique<Backend>();
  b->name = "cuda";
  b->available = false;
  b->reason = "this addon was built without CUDA (CPU-only build)";
  return b;
}

}  // namespace hgc
