// Bindings of the CUDA simulator (cuda-sim backend): its debug knobs and its self-test kernels, for tests
// and for debugging kernels without a GPU (docs/kernels-and-simulator.md).
#include "../../../cuda/sim/launch.h"
#include "../../../cuda/sim/selftest.h"
#include "args.h"
#include "bindings.h"
#include "guard.h"

namespace hgc::addon {
namespace {

// simConfigure({ seed?: number, threads?: number }) → the configuration now in force.
Napi::Value SimConfigure(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    sim::Config c = sim::config();
    if (info.Length() > 0 && !arg(info, 0).IsUndefined()) {
      Napi::Object o = read_options(arg(info, 0), "simConfigure");
      if (auto seed = opt_int(o, "seed", "simConfigure", 0, int64_t(1) << 53)) c.seed = uint64_t(*seed);
      if (auto threads = opt_int(o, "threads", "simConfigure", 1, 256)) c.threads = int(*threads);
      sim::set_config(c);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("seed", Napi::Number::New(env, double(c.seed)));
    out.Set("threads", Napi::Number::New(env, c.threads));
    return out;
  });
}

// simSelfTest(name, input: Float32Array, params: number[]) → Float32Array.
Napi::Value SimSelfTest(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    std::string name = read_string(arg(info, 0), "simSelfTest name");
    std::vector<float> input;
    if (info.Length() > 1 && arg(info, 1).IsTypedArray()) {
      Napi::TypedArray ta = arg(info, 1).As<Napi::TypedArray>();
      check(ta.TypedArrayType() == napi_float32_array, ErrorCode::Arg, "simSelfTest input must be a Float32Array");
      Napi::Float32Array f = ta.As<Napi::Float32Array>();
      input.assign(f.Data(), f.Data() + f.ElementLength());
    }
    std::vector<double> params;
    if (info.Length() > 2 && arg(info, 2).IsArray()) {
      Napi::Array a = arg(info, 2).As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) params.push_back(read_number(a.Get(i), "simSelfTest param"));
    }
    std::vector<float> out = sim_selftest::run(name, input, params);
    Napi::Float32Array r = Napi::Float32Array::New(info.Env(), out.size());
    std::copy(out.begin(), out.end(), r.Data());
    return r;
  });
}

}  // namespace

void register_sim(Napi::Env env, Napi::Object exports) {
  exports.Set("simConfigure", Napi::Function::New(env, SimConfigure, "simConfigure"));
  exports.Set("simSelfTest", Napi::Function::New(env, SimSelfTest, "simSelfTest"));
}

}  // namespace hgc::addon
