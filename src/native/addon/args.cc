#include "args.h"

#include <cmath>

#include "tensor_handle.h"

namespace hgc::addon {

Napi::Value arg(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() ? info[i] : info.Env().Undefined(); }

std::string read_string(const Napi::Value& v, const char* what) {
  check(v.IsString(), ErrorCode::Arg, what, " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

double read_number(const Napi::Value& v, const char* what) {
  check(v.IsNumber(), ErrorCode::Arg, what, " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t read_int(const Napi::Value& v, const char* what, int64_t lo, int64_t hi) {
  double d = read_number(v, what);
  check(std::isfinite(d) && d == std::floor(d), ErrorCode::Arg, what, " must be an integer, got ", d);
  check(d >= double(lo) && d <= double(hi), ErrorCode::Arg, what, " must be in [", lo, ", ", hi, "], got ", d);
  return static_cast<int64_t>(d);
}

bool read_bool(const Napi::Value& v, const char* what) {
  check(v.IsBoolean(), ErrorCode::Arg, what, " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

Shape read_shape(const Napi::Value& v, const char* what) {
  check(v.IsArray(), ErrorCode::Arg, what, " must be an array of dimensions");
  Napi::Array a = v.As<Napi::Array>();
  check(a.Length() <= uint32_t(kMaxDims), ErrorCode::Shape, what, " has ", a.Length(), " dims; at most ", kMaxDims,
        " are supported");
  Shape s;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value d = a.Get(i);
    check(d.IsNumber(), ErrorCode::Shape, what, "[", i, "] must be a number");
    double x = d.As<Napi::Number>().DoubleValue();
    check(std::isfinite(x) && x == std::floor(x) && x >= 0, ErrorCode::Shape, what, "[", i,
          "] must be a non-negative integer, got ", x);
    check(x <= double(kMaxElements), ErrorCode::Shape, what, "[", i, "] is too large: ", x);
    s.push_back(static_cast<int64_t>(x));
  }
  shape_numel(s);  // rejects overflowing products
  return s;
}

DType read_dtype(const Napi::Value& v) { return dtype_from_name(read_string(v, "dtype")); }

uint64_t read_seed(const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t s = v.As<Napi::BigInt>().Uint64Value(&lossless);
    check(lossless, ErrorCode::Arg, "seed must fit in 64 bits");
    return s;
  }
  return static_cast<uint64_t>(read_int(v, "seed", 0, (int64_t(1) << 53) - 1));
}

Napi::Object read_options(const Napi::Value& v, const char* op) {
  if (v.IsUndefined() || v.IsNull()) return Napi::Object::New(v.Env());
  check(v.IsObject(), ErrorCode::Arg, op, ": options must be an object");
  return v.As<Napi::Object>();
}

namespace {
std::string field_name(const char* op, const char* key) { return std::string(op) + ": option " + key; }
bool present(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}
}  // namespace

std::optional<double> opt_number(const Napi::Object& o, const char* key, const char* op) {
  if (!present(o, key)) return std::nullopt;
  return read_number(o.Get(key), field_name(op, key).c_str());
}

std::optional<int64_t> opt_int(const Napi::Object& o, const char* key, const char* op, int64_t lo, int64_t hi) {
  if (!present(o, key)) return std::nullopt;
  return read_int(o.Get(key), field_name(op, key).c_str(), lo, hi);
}

bool opt_bool(const Napi::Object& o, const char* key, const char* op) {
  if (!present(o, key)) return false;
  return read_bool(o.Get(key), field_name(op, key).c_str());
}

std::optional<std::string> opt_string(const Napi::Object& o, const char* key, const char* op) {
  if (!present(o, key)) return std::nullopt;
  return read_string(o.Get(key), field_name(op, key).c_str());
}

const Tensor* opt_tensor(const Napi::Object& o, const char* key, const char* op) {
  if (!present(o, key)) return nullptr;
  return &TensorHandle::Get(o.Get(key), field_name(op, key).c_str());
}

}  // namespace hgc::addon
