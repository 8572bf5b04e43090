// Argument readers for the bindings: each checks the JS type and range and throws hgc::Error(ARG/SHAPE)
// naming the argument, so a bad call from JS can never reach a kernel.
#pragma once
#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hgc/dtype.h"
#include "hgc/shape.h"
#include "hgc/tensor.h"

namespace hgc::addon {

Napi::Value arg(const Napi::CallbackInfo& info, size_t i);
std::string read_string(const Napi::Value& v, const char* what);
double read_number(const Napi::Value& v, const char* what);
int64_t read_int(const Napi::Value& v, const char* what, int64_t lo, int64_t hi);
bool read_bool(const Napi::Value& v, const char* what);
Shape read_shape(const Napi::Value& v, const char* what);
DType read_dtype(const Napi::Value& v);
uint64_t read_seed(const Napi::Value& v);

// Options-object fields: missing or undefined gives the default / nullopt.
Napi::Object read_options(const Napi::Value& v, const char* op);
std::optional<double> opt_number(const Napi::Object& o, const char* key, const char* op);
std::optional<int64_t> opt_int(const Napi::Object& o, const char* key, const char* op, int64_t lo, int64_t hi);
bool opt_bool(const Napi::Object& o, const char* key, const char* op);
std::optional<std::string> opt_string(const Napi::Object& o, const char* key, const char* op);
// A tensor field, or nullptr when absent/null/undefined.
const Tensor* opt_tensor(const Napi::Object& o, const char* key, const char* op);

}  // namespace hgc::addon
