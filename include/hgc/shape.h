// Shapes: dimension vectors with checked element counts and readable printing for error messages.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "hgc/error.h"

namespace hgc {

using Shape = std::vector<int64_t>;

// Largest element count accepted; keeps byte sizes far from size_t overflow.
constexpr int64_t kMaxElements = int64_t(1) << 40;

inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    check(d >= 0, ErrorCode::Shape, "negative dimension ", d);
    if (d != 0) check(n <= kMaxElements / d, ErrorCode::Shape, "shape has too many elements");
    n *= d;
  }
  return n;
}

inline std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

struct ShapeOut {
  const Shape& s;
};
inline std::ostream& operator<<(std::ostream& os, const ShapeOut& p) { return os << shape_str(p.s); }

}  // namespace hgc
