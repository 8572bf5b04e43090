#include <memory>

#include "hgc/backend.h"

namespace hgc {

const std::vector<Backend*>& backends() {
  // Built once, never destroyed: storage finalizers may still run during process exit.
  static std::vector<Backend*>* list = [] {
    auto* v = new std::vector<Backend*>();
    v->push_back(make_cpu_backend().release());
    v->push_back(make_cuda_backend().release());
    v->push_back(make_cuda_sim_backend().release());
    return v;
  }();
  return *list;
}

std::vector<std::string> implemented_ops(const Backend& b) {
  const Launchers& l = b.launch;
  std::vector<std::string> ops;
  auto add = [&](const char* name, bool present) {
    if (present) ops.emplace_back(name);
  };
  add("gemm", l.gemm);
  add("conv2d", l.conv2d);
  add("attention", l.attention);
  add("group_norm", l.group_norm);
  add("layer_norm", l.layer_norm);
  add("binary", l.binary);
  add("unary", l.unary);
  add("geglu", l.geglu);
  add("softmax", l.softmax);
  add("upsample2x", l.upsample2x);
  add("timestep_embedding", l.timestep_embedding);
  add("reduce", l.reduce);
  add("strided_copy", l.strided_copy);
  add("fill", l.fill);
  add("randn", l.randn);
  add("cast", l.cast);
  return ops;
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
