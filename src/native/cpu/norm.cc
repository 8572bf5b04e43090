// Normalisations and softmax. Statistics are accumulated in float over short runs and then in double,
// so million-element groups keep full precision while the inner loops stay vectorisable.
#include <algorithm>
#include <cmath>

#include "misc_kernels.h"
#include "simd.h"
#include "thread_pool.h"

namespace hgc::cpu {
namespace {

constexpr int64_t kRun = 512;  // float accumulation run before folding into double

HGC_CLONES double blocked_sum(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t start = 0; start < n; start += kRun) {
    int64_t len = std::min(kRun, n - start);
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // eight partial sums so the loop vectorises
    int64_t i = 0;
    for (; i + 8 <= len; i += 8)
      for (int j = 0; j < 8; j++) lanes[j] += x[start + i + j];
    for (; i < len; i++) lanes[0] += x[start + i];
    for (int j = 0; j < 8; j++) sum += lanes[j];
  }
  return sum;
}

// Second pass for precision: Σ(x − mean)² in the same blocked way.
HGC_CLONES double centred_squares(const float* x, int64_t n, float mean) {
  double sq = 0.0;
  for (int64_t start = 0; start < n; start += kRun) {
    int64_t len = std::min(kRun, n - start);
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= len; i += 8)
      for (int j = 0; j < 8; j++) {
        float d = x[start + i + j] - mean;
        lanes[j] += d * d;
      }
    for (; i < len; i++) {
      float d = x[start + i] - mean;
      lanes[0] += d * d;
    }
    for (int j = 0; j < 8; j++) sq += lanes[j];
  }
  return sq;
}

HGC_CLONES void scale_shift(const float* x, float* y, int64_t n, float a, float b, bool silu) {
  if (silu) {
    for (int64_t i = 0; i < n; i++) {
      float v = x[i] * a + b;
      y[i] = v / (1.0f + exp_fast(-v));
    }
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * a + b;
  }
}

HGC_CLONES void affine_row(const float* x, float* y, int64_t n, float mean, float rstd, const float* gamma,
                           const float* beta) {
  for (int64_t i = 0; i < n; i++) {
    float v = (x[i] - mean) * rstd;
    if (gamma) v *= gamma[i];
    if (beta) v += beta[i];
    y[i] = v;
  }
}

}  // namespace

void group_norm(const GroupNormArgs& a) {
  const int64_t per_group = a.channels / a.groups;
  const int64_t group_elems = per_group * a.spatial;
  parallel_for(a.n * a.groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t ng = begin; ng < end; ng++) {
      const int64_t g = ng % a.groups;
      const float* x = a.x + ng * group_elems;
      float* y = a.y + ng * group_elems;
      double mean = group_elems > 0 ? blocked_sum(x, group_elems) / double(group_elems) : 0.0;
      double var = group_elems > 0 ? centred_squares(x, group_elems, float(mean)) / double(group_elems) : 0.0;
      float rstd = static_cast<float>(1.0 / std::sqrt(var + double(a.eps)));
      for (int64_t c = 0; c < per_group; c++) {
        int64_t ch = g * per_group + c;
        float gm = a.gamma ? a.gamma[ch] : 1.0f, bt = a.beta ? a.beta[ch] : 0.0f;
        float scale = rstd * gm;
        float shift = bt - float(mean) * scale;
        scale_shift(x + c * a.spatial, y + c * a.spatial, a.spatial, scale, shift, a.silu);
      }
    }
  });
}

void layer_norm(const LayerNormArgs& a) {
  parallel_for(a.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, a.cols)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
      const float* x = a.x + r * a.cols;
      double mean = a.cols > 0 ? blocked_sum(x, a.cols) / double(a.cols) : 0.0;
      double var = a.cols > 0 ? centred_squares(x, a.cols, float(mean)) / double(a.cols) : 0.0;
      float rstd = static_cast<float>(1.0 / std::sqrt(var + double(a.eps)));
      affine_row(x, a.y + r * a.cols, a.cols, float(mean), rstd, a.gamma, a.beta);
    }
  });
}

namespace {
HGC_CLONES void softmax_row(const float* x, float* y, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  bool any_nan = false;
  for (int64_t i = 0; i < n; i++) any_nan |= (x[i] != x[i]);
  if (any_nan) {
    for (int64_t i = 0; i < n; i++) y[i] = NAN;
    return;
  }
  if (mx == -INFINITY) mx = 0.0f;  // an all −inf row: exp gives zeros, handled below
  float sum = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float e = exp_fast(x[i] - mx);
    y[i] = e;
    sum += e;
  }
  float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (int64_t i = 0; i < n; i++) y[i] *= inv;
}
}  // namespace

void softmax(const SoftmaxArgs& a) {
  parallel_for(a.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, a.cols)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) softmax_row(a.x + r * a.cols, a.out + r * a.cols, a.cols);
  });
}

}  // namespace hgc::cpu
