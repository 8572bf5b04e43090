// Bindings for the runtime: devices(), memory(), emptyCache(), thread count and the error class.
#include "addon_state.h"
#include "args.h"
#include "bindings.h"
#include "guard.h"
#include "hgc/backend.h"
#include "hgc/tensor.h"
#include "tensor_handle.h"
#include "../cpu/thread_pool.h"

namespace hgc::addon {
namespace {

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    check(arg(info, 0).IsFunction(), ErrorCode::Arg, "setErrorClass needs a constructor");
    state(info.Env()).error_class = Napi::Persistent(arg(info, 0).As<Napi::Function>());
    return info.Env().Undefined();
  });
}

Napi::Value Devices(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    for (Backend* b : backends()) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("name", b->name);
      d.Set("available", b->available);
      if (!b->available) d.Set("reason", b->reason);
      Napi::Array ops = Napi::Array::New(env);
      uint32_t k = 0;
      for (const std::string& op : implemented_ops(*b)) ops.Set(k++, op);
      d.Set("ops", ops);
      out.Set(i++, d);
    }
    return out;
  });
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("liveTensors", Napi::Number::New(env, double(TensorHandle::live_handles())));
    out.Set("liveStorages", Napi::Number::New(env, double(Storage::live_count())));
    out.Set("liveBytes", Napi::Number::New(env, double(Storage::live_bytes())));
    Napi::Object pools = Napi::Object::New(env);
    for (Backend* b : backends()) {
      if (!b->allocator) continue;
      AllocatorStats s = b->allocator->stats();
      Napi::Object p = Napi::Object::New(env);
      p.Set("bytesInUse", Napi::Number::New(env, double(s.bytes_in_use)));
      p.Set("bytesCached", Napi::Number::New(env, double(s.bytes_cached)));
      p.Set("peakBytesInUse", Napi::Number::New(env, double(s.peak_bytes_in_use)));
      p.Set("allocations", Napi::Number::New(env, double(s.allocations)));
      p.Set("cacheHits", Napi::Number::New(env, double(s.cache_hits)));
      p.Set("deviceAllocations", Napi::Number::New(env, double(s.device_allocations)));
      p.Set("bytesInGraphPools", Napi::Number::New(env, double(s.bytes_in_private_pools)));
      p.Set("graphPools", Napi::Number::New(env, double(s.private_pools)));
      pools.Set(b->name, p);
    }
    out.Set("pools", pools);
    return out;
  });
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    for (Backend* b : backends())
      if (b->allocator && b->available) b->allocator->empty_cache();
    return info.Env().Undefined();
  });
}

Napi::Value NumThreads(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), cpu::num_threads()); });
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  exports.Set("devices", Napi::Function::New(env, Devices, "devices"));
  exports.Set("memory", Napi::Function::New(env, Memory, "memory"));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache, "emptyCache"));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads, "numThreads"));
}

}  // namespace hgc::addon
