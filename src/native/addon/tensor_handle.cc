#include "tensor_handle.h"

#include "addon_state.h"
#include "guard.h"

namespace hgc::addon {

int64_t TensorHandle::live_handles_ = 0;

void TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "TensorHandle",
                                    {InstanceMethod("dispose", &TensorHandle::Dispose),
                                     InstanceAccessor("disposed", &TensorHandle::Disposed, nullptr)});
  state(env).tensor_handle_ctor = Napi::Persistent(ctor);
  exports.Set("TensorHandle", ctor);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() {
  // Finalizer path: the storage returns to its allocator. External memory accounting is not adjusted here
  // because the environment may be shutting down.
  if (tensor_) live_handles_--;
  tensor_.reset();
}

Napi::Object TensorHandle::Wrap(Napi::Env env, Tensor tensor) {
  Napi::Object obj = state(env).tensor_handle_ctor.New({});
  TensorHandle* h = Napi::ObjectWrap<TensorHandle>::Unwrap(obj);
  // Host memory is reported to V8 so the garbage collector runs finalizers under memory pressure.
  if (tensor.device() == "cpu") {
    h->external_bytes_ = static_cast<int64_t>(tensor.nbytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, h->external_bytes_);
  }
  h->tensor_ = std::move(tensor);
  live_handles_++;
  return obj;
}

const Tensor& TensorHandle::Get(const Napi::Value& value, const char* what) {
  Napi::Env env = value.Env();
  bool is_handle = value.IsObject() && value.As<Napi::Object>().InstanceOf(state(env).tensor_handle_ctor.Value());
  check(is_handle, ErrorCode::Arg, what, " is not a tensor");
  TensorHandle* h = Napi::ObjectWrap<TensorHandle>::Unwrap(value.As<Napi::Object>());
  check(h->tensor_.has_value(), ErrorCode::Disposed, what, " was disposed");
  return *h->tensor_;
}

void TensorHandle::Release(Napi::Env env) {
  if (!tensor_) return;
  tensor_.reset();
  live_handles_--;
  if (external_bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, -external_bytes_);
  external_bytes_ = 0;
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Release(info.Env());
    return info.Env().Undefined();
  });
}

Napi::Value TensorHandle::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.has_value());
}

}  // namespace hgc::addon
