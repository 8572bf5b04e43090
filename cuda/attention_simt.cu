// Multi-head attention for head dims beyond the flash kernel's instances (> kFlashMaxHeadDim), f32 throughout,
// the same algorithm as the CPU's scalar path (src/native/cpu/attention.cc). One block of 128 threads per
// (batch·head, query row); thread `tid` owns dims tid, tid + 128, … and accumulates them directly in its
// output row (no other block writes it). Per key the dot product is a block reduction in a fixed order, then
// every thread makes the same online-softmax update. Slow (one barrier pair per key) but any head dim works.
#include <cmath>

#include "attention.cuh"
#include "launch.cuh"
#include "prims.cuh"

namespace hgc::cuda {
namespace {

constexpr int kThreads = 128;

__global__ void attention_simt_kernel(AttentionArgs a) {
  __shared__ float partial[kThreads / 32];
  const int tid = threadIdx.x;
  const int64_t bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const int64_t n = a.n, m = a.m, d = a.head_dim, off = m - n;
  const float* vb = a.v + b * m * a.v_row_stride + h * d;
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    float* o = a.out + (b * n + i) * a.out_row_stride + h * d;
    for (int64_t c = tid; c < d; c += kThreads) o[c] = 0.0f;
    float* p = a.probs ? a.probs + (bh * n + i) * m : nullptr;
    if (a.mode == AttentionMode::Replay) {
      for (int64_t j = 0; j < m; j++)
        for (int64_t c = tid; c < d; c += kThreads) o[c] += p[j] * vb[j * a.v_row_stride + c];
      continue;
    }
    const float* qr = a.q + (b * n + i) * a.q_row_stride + h * d;
    const float* kb = a.k + b * m * a.k_row_stride + h * d;
    auto score = [&](int64_t j) {
      float s = 0.0f;
      for (int64_t c = tid; c < d; c += kThreads) s += qr[c] * kb[j * a.k_row_stride + c];
      s = prims::warp_sum(s);
      if (prims::lane_id() == 0) partial[prims::warp_id()] = s;
      __syncthreads();
      float total = 0.0f;
      for (int w = 0; w < kThreads / 32; w++) total += partial[w];
      __syncthreads();  // partial is rewritten by the next key
      return total * a.scale;
    };
    const int64_t jend = a.causal ? (i + off + 1 < m ? i + off + 1 : m) : m;
    float mx = -INFINITY, l = 0.0f;
    for (int64_t j = 0; j < jend; j++) {
      const float s = score(j);
      const float mnew = s > mx ? s : mx;  // NaN scores are skipped here and poison the row through exp
      const float ref = mnew == -INFINITY ? 0.0f : mnew;
      const float alpha = expf(mx - ref), e = expf(s - ref);
      mx = mnew;
      l = l * alpha + e;
      for (int64_t c = tid; c < d; c += kThreads) o[c] = o[c] * alpha + e * vb[j * a.v_row_stride + c];
    }
    const float inv = l == 0.0f ? 0.0f : 1.0f / l;
    for (int64_t c = tid; c < d; c += kThreads) o[c] *= inv;
    if (a.mode != AttentionMode::Capture) continue;
    const float ref = mx == -INFINITY ? 0.0f : mx;
    for (int64_t j = 0; j < jend; j++) {
      const float e = expf(score(j) - ref) * inv;
      if (tid == 0) p[j] = e;
    }
    for (int64_t j = jend + tid; j < m; j += kThreads) p[j] = 0.0f;
  }
}

}  // namespace

void attention_simt(const AttentionArgs& a) {
  if (a.batch <= 0 || a.heads <= 0 || a.n <= 0 || a.head_dim <= 0 || a.m <= 0) return;
  const unsigned rows = static_cast<unsigned>(a.n < 65535 ? a.n : 65535);
  launch("attention_simt", attention_simt_kernel, dim3(static_cast<unsigned>(a.batch * a.heads), rows),
         dim3(kThreads), 0, nullptr, a);
}

}  // namespace hgc::cuda
