// Registration functions of the binding files.
#pragma once
#include <napi.h>

namespace hgc::addon {
void register_runtime(Napi::Env env, Napi::Object exports);   // devices, memory, error class
void register_storage(Napi::Env env, Napi::Object exports);   // creation, copies, casts, layout
void register_compute(Napi::Env env, Napi::Object exports);   // compute ops
void register_cache_pool(Napi::Env env, Napi::Object exports);  // the cache buffer pool
void register_graph(Napi::Env env, Napi::Object exports);     // CUDA graphs (capture and replay)
void register_sim(Napi::Env env, Napi::Object exports);       // the CUDA simulator's knobs and self-tests
}  // namespace hgc::addon
