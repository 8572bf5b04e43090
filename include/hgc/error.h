// Typed errors of the native core. Every failure in native code is an hgc::Error carrying one of the codes
// below; the addon turns it into a JS HgcError with the same code. Nothing here aborts or exits the process.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace hgc {

enum class ErrorCode { Shape, DType, Device, Disposed, OOM, Cuda, IO, Arg };

inline const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::Shape: return "SHAPE";
    case ErrorCode::DType: return "DTYPE";
    case ErrorCode::Device: return "DEVICE";
    case ErrorCode::Disposed: return "DISPOSED";
    case ErrorCode::OOM: return "OOM";
    case ErrorCode::Cuda: return "CUDA";
    case ErrorCode::IO: return "IO";
    case ErrorCode::Arg: return "ARG";
  }
  return "ARG";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Builds a message from any streamable parts: fail(ErrorCode::Shape, "matmul: ", a, " vs ", b).
template <typename... Parts>
[[noreturn]] void fail(ErrorCode code, const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(code, os.str());
}

template <typename... Parts>
void check(bool ok, ErrorCode code, const Parts&... parts) {
  if (!ok) fail(code, parts...);
}

}  // namespace hgc
