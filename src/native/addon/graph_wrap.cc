// Graph binding (include/hgc/graph.h): new Graph(device); begin(); end(); abort(); launch(); destroy();
// state() → 'idle' | 'capturing' | 'ready' | 'failed' | 'destroyed'; poolBytes(); launches().
// The finalizer destroys a graph its owner forgot (the pool then lives on only in storages that use it).
#include <memory>

#include "args.h"
#include "bindings.h"
#include "guard.h"
#include "hgc/graph.h"

namespace hgc::addon {
namespace {

class GraphWrap : public Napi::ObjectWrap<GraphWrap> {
 public:
  explicit GraphWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GraphWrap>(info) {
    guard(info, [&]() -> Napi::Value {
      graph_ = std::make_unique<Graph>(backend_by_name(read_string(arg(info, 0), "Graph: device")));
      return info.Env().Undefined();
    });
  }

  Napi::Value Begin(const Napi::CallbackInfo& info) { return run(info, [&] { graph_->begin(); }); }
  Napi::Value End(const Napi::CallbackInfo& info) { return run(info, [&] { graph_->end(); }); }
  Napi::Value Abort(const Napi::CallbackInfo& info) { return run(info, [&] { graph_->abort(); }); }
  Napi::Value Launch(const Napi::CallbackInfo& info) { return run(info, [&] { graph_->launch(); }); }
  Napi::Value Destroy(const Napi::CallbackInfo& info) { return run(info, [&] { graph_->destroy(); }); }

  Napi::Value State(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), graph_state_name(graph_->state())); });
  }
  Napi::Value PoolBytes(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), double(graph_->pool_bytes())); });
  }
  Napi::Value Launches(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value { return Napi::Number::New(info.Env(), double(graph_->launches())); });
  }

 private:
  template <typename F>
  Napi::Value run(const Napi::CallbackInfo& info, F&& f) {
    return guard(info, [&]() -> Napi::Value {
      f();
      return info.Env().Undefined();
    });
  }

  std::unique_ptr<Graph> graph_;
};

}  // namespace

void register_graph(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = GraphWrap::DefineClass(env, "Graph", {
    GraphWrap::InstanceMethod("begin", &GraphWrap::Begin),
    GraphWrap::InstanceMethod("end", &GraphWrap::End),
    GraphWrap::InstanceMethod("abort", &GraphWrap::Abort),
    GraphWrap::InstanceMethod("launch", &GraphWrap::Launch),
    GraphWrap::InstanceMethod("destroy", &GraphWrap::Destroy),
    GraphWrap::InstanceMethod("state", &GraphWrap::State),
    GraphWrap::InstanceMethod("poolBytes", &GraphWrap::PoolBytes),
    GraphWrap::InstanceMethod("launches", &GraphWrap::Launches),
  });
  static Napi::FunctionReference* ref = new Napi::FunctionReference(Napi::Persistent(ctor));
  (void)ref;
  exports.Set("Graph", ctor);
}

}  // namespace hgc::addon
