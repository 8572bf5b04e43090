// Per-environment state of the addon: the JS HgcError class (set by the TypeScript layer at load) and the
// TensorHandle constructor.
#pragma once
#include <napi.h>

namespace hgc::addon {

struct AddonState {
  Napi::FunctionReference error_class;
  Napi::FunctionReference tensor_handle_ctor;
};

AddonState& state(Napi::Env env);

}  // namespace hgc::addon
