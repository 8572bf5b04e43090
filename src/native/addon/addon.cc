// Module entry of the hgc addon.
#include <napi.h>

#include "addon_state.h"
#include "bindings.h"
#include "tensor_handle.h"

namespace hgc::addon {

AddonState& state(Napi::Env env) { return *env.GetInstanceData<AddonState>(); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonState());
  TensorHandle::Init(env, exports);
  register_runtime(env, exports);
  register_storage(env, exports);
  register_compute(env, exports);
  register_cache_pool(env, exports);
  register_graph(env, exports);
  register_sim(env, exports);
  return exports;
}

}  // namespace hgc::addon

static Napi::Object InitHgc(Napi::Env env, Napi::Object exports) { return hgc::addon::Init(env, exports); }

NODE_API_MODULE(hgc, InitHgc)
