// Bindings for creation, host/device copies, casts and layout ops.
#include "args.h"
#include "bindings.h"
#include "guard.h"
#include "hgc/ops.h"
#include "tensor_handle.h"

namespace hgc::addon {
namespace {

Napi::Value FromHost(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Backend& be = backend_by_name(read_string(arg(info, 0), "device"));
    Shape shape = read_shape(arg(info, 1), "shape");
    DType dt = read_dtype(arg(info, 2));
    Napi::Value data = arg(info, 3);
    bool ok = data.IsTypedArray() && (dt == DType::F32 ? data.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array
                                                       : data.As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array);
    check(ok, ErrorCode::DType, "tensor: ", dtype_name(dt), " data must be a ",
          dt == DType::F32 ? "Float32Array" : "Uint16Array");
    Napi::TypedArray arr = data.As<Napi::TypedArray>();
    const uint8_t* bytes = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    return TensorHandle::Wrap(info.Env(), op_from_host(be, shape, dt, bytes, arr.ByteLength()));
  });
}

Napi::Value Full(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Backend& be = backend_by_name(read_string(arg(info, 0), "device"));
    Shape shape = read_shape(arg(info, 1), "shape");
    DType dt = read_dtype(arg(info, 2));
    float value = static_cast<float>(read_number(arg(info, 3), "fill value"));
    return TensorHandle::Wrap(info.Env(), op_full(be, shape, dt, value));
  });
}

Napi::Value Randn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Backend& be = backend_by_name(read_string(arg(info, 0), "device"));
    Shape shape = read_shape(arg(info, 1), "shape");
    DType dt = read_dtype(arg(info, 2));
    uint64_t seed = read_seed(arg(info, 3));
    return TensorHandle::Wrap(info.Env(), op_randn(be, shape, dt, seed));
  });
}

Napi::Value ToHost(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::Get(arg(info, 0), "tensor");
    Napi::Env env = info.Env();
    const size_t bytes = t.nbytes();
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, bytes);
    op_to_host(t, buf.Data(), bytes);
    if (t.dtype == DType::F32) return Napi::Float32Array::New(env, bytes / 4, buf, 0);
    return Napi::Uint16Array::New(env, bytes / 2, buf, 0);
  });
}

Napi::Value ToDevice(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::Get(arg(info, 0), "tensor");
    Backend& be = backend_by_name(read_string(arg(info, 1), "device"));
    // to() always returns a new tensor, also on the same device.
    return TensorHandle::Wrap(info.Env(), &be == &t.backend() ? op_clone(t) : op_to_device(t, be));
  });
}

Napi::Value Clone(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::Get(arg(info, 0), "tensor");
    return TensorHandle::Wrap(info.Env(), op_clone(t));
  });
}

Napi::Value CopyInto(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    op_copy_into(TensorHandle::Get(arg(info, 0), "copyInto: destination"), TensorHandle::Get(arg(info, 1), "copyInto: source"));
    return info.Env().Undefined();
  });
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::Get(arg(info, 0), "tensor");
    DType dt = read_dtype(arg(info, 1));
    check(dt != t.dtype, ErrorCode::Arg, "cast: tensor is already ", dtype_name(dt));
    return TensorHandle::Wrap(info.Env(), op_cast(t, dt));
  });
}

Napi::Value Permute(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::Get(arg(info, 0), "tensor");
    check(arg(info, 1).IsArray(), ErrorCode::Arg, "permute: dims must be an array");
    Napi::Array a = arg(info, 1).As<Napi::Array>();
    std::vector<int64_t> dims;
    for (uint32_t i = 0; i < a.Length(); i++) dims.push_back(read_int(a.Get(i), "permute: dim", -kMaxDims, kMaxDims));
    return TensorHandle::Wrap(info.Env(), op_permute(t, dims));
  });
}

Napi::Value Slice(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::Get(arg(info, 0), "tensor");
    int64_t dim = read_int(arg(info, 1), "slice: dim", -kMaxDims, kMaxDims);
    int64_t start = read_int(arg(info, 2), "slice: start", -kMaxElements, kMaxElements);
    int64_t end = read_int(arg(info, 3), "slice: end", -kMaxElements, kMaxElements);
    return TensorHandle::Wrap(info.Env(), op_slice(t, dim, start, end));
  });
}

Napi::Value Concat(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    check(arg(info, 0).IsArray(), ErrorCode::Arg, "concat: tensors must be an array");
    Napi::Array a = arg(info, 0).As<Napi::Array>();
    std::vector<Tensor> xs;
    for (uint32_t i = 0; i < a.Length(); i++) xs.push_back(TensorHandle::Get(a.Get(i), "concat: tensor"));
    int64_t dim = read_int(arg(info, 1), "concat: dim", -kMaxDims, kMaxDims);
    return TensorHandle::Wrap(info.Env(), op_concat(xs, dim));
  });
}

Napi::Value View(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::Get(arg(info, 0), "tensor");
    Shape shape = read_shape(arg(info, 1), "reshape: shape");
    check(shape_numel(shape) == t.numel(), ErrorCode::Shape, "reshape: cannot view ", shape_str(t.shape), " (",
          t.numel(), " elements) as ", shape_str(shape));
    Tensor v = t;  // shares the storage
    v.shape = shape;
    return TensorHandle::Wrap(info.Env(), v);
  });
}

}  // namespace

void register_storage(Napi::Env env, Napi::Object exports) {
  exports.Set("fromHost", Napi::Function::New(env, FromHost, "fromHost"));
  exports.Set("full", Napi::Function::New(env, Full, "full"));
  exports.Set("randn", Napi::Function::New(env, Randn, "randn"));
  exports.Set("toHost", Napi::Function::New(env, ToHost, "toHost"));
  exports.Set("toDevice", Napi::Function::New(env, ToDevice, "toDevice"));
  exports.Set("view", Napi::Function::New(env, View, "view"));
  exports.Set("clone", Napi::Function::New(env, Clone, "clone"));
  exports.Set("copyInto", Napi::Function::New(env, CopyInto, "copyInto"));
  exports.Set("cast", Napi::Function::New(env, Cast, "cast"));
  exports.Set("permute", Napi::Function::New(env, Permute, "permute"));
  exports.Set("slice", Napi::Function::New(env, Slice, "slice"));
  exports.Set("concat", Napi::Function::New(env, Concat, "concat"));
}

}  // namespace hgc::addon
