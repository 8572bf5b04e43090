// CachePool binding: new CachePool(budgetBytes); put(key, tensor, pinned) → bool; get(key) → tensor | null;
// has(key); release(key) → bool; clear(); setBudget(bytes); stats(); keys().
#include <memory>

#include "args.h"
#include "bindings.h"
#include "guard.h"
#include "hgc/cache_pool.h"
#include "tensor_handle.h"

namespace hgc::addon {
namespace {

class CachePoolWrap : public Napi::ObjectWrap<CachePoolWrap> {
 public:
  explicit CachePoolWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CachePoolWrap>(info) {
    guard(info, [&]() -> Napi::Value {
      double budget = read_number(arg(info, 0), "CachePool: budget");
      check(budget >= 0 && budget <= 9.0e15, ErrorCode::Arg, "CachePool: budget must be a byte count >= 0, got ", budget);
      pool_ = std::make_unique<CachePool>(static_cast<size_t>(budget));
      return info.Env().Undefined();
    });
  }

  Napi::Value Put(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      std::string key = read_string(arg(info, 0), "CachePool.put: key");
      const Tensor& t = TensorHandle::Get(arg(info, 1), "CachePool.put: tensor");
      bool pinned = arg(info, 2).IsUndefined() ? false : read_bool(arg(info, 2), "CachePool.put: pinned");
      return Napi::Boolean::New(info.Env(), pool_->put(key, t, pinned));
    });
  }

  Napi::Value Get(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Tensor t;
      if (!pool_->get(read_string(arg(info, 0), "CachePool.get: key"), &t)) return info.Env().Null();
      return TensorHandle::Wrap(info.Env(), t);
    });
  }

  Napi::Value Has(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      return Napi::Boolean::New(info.Env(), pool_->contains(read_string(arg(info, 0), "CachePool.has: key")));
    });
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      return Napi::Boolean::New(info.Env(), pool_->release(read_string(arg(info, 0), "CachePool.release: key")));
    });
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      pool_->clear();
      return info.Env().Undefined();
    });
  }

  Napi::Value SetBudget(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      double budget = read_number(arg(info, 0), "CachePool.setBudget: budget");
      check(budget >= 0 && budget <= 9.0e15, ErrorCode::Arg, "CachePool: budget must be a byte count >= 0, got ", budget);
      pool_->set_budget(static_cast<size_t>(budget));
      return info.Env().Undefined();
    });
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      CachePoolStats s = pool_->stats();
      Napi::Object o = Napi::Object::New(env);
      o.Set("budget", Napi::Number::New(env, double(s.budget)));
      o.Set("bytesHeld", Napi::Number::New(env, double(s.bytes_held)));
      o.Set("bytesInEntries", Napi::Number::New(env, double(s.bytes_in_entries)));
      o.Set("peakBytesHeld", Napi::Number::New(env, double(s.peak_bytes_held)));
      o.Set("entries", Napi::Number::New(env, double(s.entries)));
      o.Set("hits", Napi::Number::New(env, double(s.hits)));
      o.Set("misses", Napi::Number::New(env, double(s.misses)));
      o.Set("evictions", Napi::Number::New(env, double(s.evictions)));
      o.Set("rejected", Napi::Number::New(env, double(s.rejected)));
      o.Set("bufferReuses", Napi::Number::New(env, double(s.buffer_reuses)));
      return o;
    });
  }

  Napi::Value Keys(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Array out = Napi::Array::New(info.Env());
      uint32_t i = 0;
      for (const auto& k : pool_->keys()) out.Set(i++, k);
      return out;
    });
  }

 private:
  std::unique_ptr<CachePool> pool_;
};

}  // namespace

void register_cache_pool(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = CachePoolWrap::DefineClass(env, "CachePool", {
    CachePoolWrap::InstanceMethod("put", &CachePoolWrap::Put),
    CachePoolWrap::InstanceMethod("get", &CachePoolWrap::Get),
    CachePoolWrap::InstanceMethod("has", &CachePoolWrap::Has),
    CachePoolWrap::InstanceMethod("release", &CachePoolWrap::Release),
    CachePoolWrap::InstanceMethod("clear", &CachePoolWrap::Clear),
    CachePoolWrap::InstanceMethod("setBudget", &CachePoolWrap::SetBudget),
    CachePoolWrap::InstanceMethod("stats", &CachePoolWrap::Stats),
    CachePoolWrap::InstanceMethod("keys", &CachePoolWrap::Keys),
  });
  // The constructor lives as long as the module; keep it referenced.
  static Napi::FunctionReference* ref = new Napi::FunctionReference(Napi::Persistent(ctor));
  (void)ref;
  exports.Set("CachePool", ctor);
}

}  // namespace hgc::addon
