// Every binding runs inside guard(): native exceptions become JS exceptions of class HgcError with a code
// (see include/hgc/error.h); nothing escapes to terminate the process.
#pragma once
#include <napi.h>

#include <new>
#include <string>

#include "hgc/error.h"

namespace hgc::addon {

// Throws a JS HgcError(code, message) (a plain Error with .code before the class is registered).
[[noreturn]] void throw_hgc(Napi::Env env, const char* code, const std::string& message);

template <typename F>
Napi::Value guard(const Napi::CallbackInfo& info, F&& body) {
  Napi::Env env = info.Env();
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw_hgc(env, error_code_name(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    throw_hgc(env, "OOM", "out of host memory");
  } catch (const std::exception& e) {
    throw_hgc(env, "ARG", std::string("internal error: ") + e.what());
  }
}

}  // namespace hgc::addon
