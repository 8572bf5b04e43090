// TensorHandle: the JS object owning one native tensor. dispose() drops the storage at once; otherwise the
// garbage collector's finalizer does (the safety net). Shape and dtype are mirrored on the TS side.
#pragma once
#include <napi.h>

#include <optional>

#include "hgc/tensor.h"

namespace hgc::addon {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Wrap(Napi::Env env, Tensor tensor);
  // The tensor behind a JS value; Error(ARG) if it is not a handle, Error(DISPOSED) if disposed.
  static const Tensor& Get(const Napi::Value& value, const char* what);

  static int64_t live_handles() { return live_handles_; }

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  void Release(Napi::Env env);

  std::optional<Tensor> tensor_;
  int64_t external_bytes_ = 0;
  static int64_t live_handles_;  // handles holding a tensor (JS thread only)
};

}  // namespace hgc::addon
