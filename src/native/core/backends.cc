#include <memory>

#include "hgc/backend.h"

namespace hgc {

const std::vector<Backend*>& backends() {
  // Built once, never destroyed: storage finalizers may still run during process exit.
  static std::vector<Backend*>* list = [] {
    auto* v = new std::vector<Backend*>();
    v->push_back(make_cpu_backend().release());
    v->push_back(make_cuda_backend().release());
    return v;
  }();
  return *list;
}

Backend& backend_by_name(const std::string& name) {
  for (Backend* b : backends()) {
    if (b->name != name) continue;
    check(b->available, ErrorCode::Device, "device '", name, "' is not available: ", b->reason);
    return *b;
  }
  std::string known;
  for (Backend* b : backends()) known += (known.empty() ? "" : ", ") + b->name;
  fail(ErrorCode::Device, "unknown device '", name, "' (known: ", known, ")");
}

}  // namespace hgc
