#include "guard.h"

#include "addon_state.h"

namespace hgc::addon {

void throw_hgc(Napi::Env env, const char* code, const std::string& message) {
  AddonState& s = state(env);
  if (!s.error_class.IsEmpty()) {
    Napi::Object err = s.error_class.New({Napi::String::New(env, code), Napi::String::New(env, message)});
    throw Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

}  // namespace hgc::addon
