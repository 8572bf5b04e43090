// Multi-head attention, flash-style forward on tensor cores (AttentionArgs semantics, include/hgc/op_args.h;
// the same results as src/native/cpu/attention.cc up to f16 rounding).
//
// Block: 4 warps, 64 queries of one (batch, head), 16 per warp; grid (batch·heads, ceil(n / 64)). The head
// dim is padded to DP, a multiple of 16 (40 → 48, 80, 160 exact; template instances 32 … 256; larger head
// dims go to cuda/attention_simt.cu). Tiles of BK keys × DP dims of K and V stream through shared memory
// with cp.async, double buffered (tile j+1 is in flight while tile j is used); keys ≥ m and dims ≥ d are
// filled with zeros by the copy itself (src-size 0), so tails need no branches in the inner loops.
//
// Storage T (template): float (`attention`), __half or __nv_bfloat16 (`attention_half`); tiles are staged in
// T, 16-byte cp.async when aligned (4-byte for unaligned f32, plain loads for unaligned halves).
// Precision: the operands of both products are rounded to the mma type as the fragments are built (f16 for
// f32 and f16 storage, bf16 for bf16; Q once into registers, K and V from the staged tiles, P from the f32
// probabilities), the products accumulate in f32, and the softmax statistics (row max, row sum) are f32.
// The result has the accuracy of a naive attention on rounded q, k, v and P (the tests check ≤ 2× that
// error against float64); half outputs are rounded once.
//
// Fragment flow per warp and key tile (layouts: cuda/prims.cuh):
//   S[16 × BK] = Q·Kᵀ   A = Q fragments (registers), B = K rows: b[0] = K[key g][2t, 2t+1] is a contiguous
//                        pair of the staged K row, so B needs no transpose;
//   online softmax       each lane holds rows g and g+8 of the warp's 16; the row max is a max over the lane's
//                        pairs and a shuffle across the 4 lanes of a quad (xor 1, 2); the row sum stays a
//                        per-lane partial until the end (the rescale factor is the same on the 4 lanes);
//   O[16 × DP] += P·V    the C fragments of S for keys 16kk..16kk+15 are exactly the A fragment of P (two
//                        n-tiles side by side), so P never leaves registers; B = V: b[0] = V[key 2t, 2t+1][g],
//                        read as two elements of the staged tile. Fragments are read element-wise from
//                        shared memory (no ldmatrix yet): simple and exact for every storage type, but not
//                        tuned; GPU timings are still to be taken.
// Compute: O / rowsum at the end; the n×m scores never exist in memory.
// Capture: the compute pass (same output bits), then a second pass over K only that recomputes S and writes
//   P = exp(s − max) / sum, the probabilities reconstructed from the row log-sum-exp (kept as max and sum in
//   registers); keys a causal block never reaches are written as zeros.
// Replay: O = P·V with P read from `probs` straight into A fragments; Q·Kᵀ and the softmax are skipped.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "attention.cuh"
#include "hgc/error.h"
#include "kernel_util.cuh"
#include "launch.cuh"
#include "mma_tile.cuh"
#include "prims.cuh"


namespace hgc::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBlockQ = kWarps * 16;
constexpr unsigned kFull = 0xffffffffu;

// Storage type traits: conversions, the mma operand type and its packing (low half = lower index).
template <typename T>
struct Elem;
template <>
struct Elem<float> {
  static constexpr int kChunk = 4;  // elements per 16-byte copy
  __device__ __forceinline__ static float load(float x) { return x; }
  __device__ __forceinline__ static float store(float x) { return x; }
  __device__ __forceinline__ static uint32_t pack(float lo, float hi) {
    return uint32_t(__half_as_ushort(__float2half_rn(lo))) | (uint32_t(__half_as_ushort(__float2half_rn(hi))) << 16);
  }
  __device__ __forceinline__ static void mma(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    prims::mma_m16n8k16_f16(d, a, b, d);
  }
};
template <>
struct Elem<__half> {
  static constexpr int kChunk = 8;
  __device__ __forceinline__ static float load(__half x) { return __half2float(x); }
  __device__ __forceinline__ static __half store(float x) { return __float2half_rn(x); }
  __device__ __forceinline__ static uint32_t pack(float lo, float hi) { return Elem<float>::pack(lo, hi); }
  __device__ __forceinline__ static void mma(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    prims::mma_m16n8k16_f16(d, a, b, d);
  }
};
template <>
struct Elem<__nv_bfloat16> {
  static constexpr int kChunk = 8;
  __device__ __forceinline__ static float load(__nv_bfloat16 x) { return __bfloat162float(x); }
  __device__ __forceinline__ static __nv_bfloat16 store(float x) { return __float2bfloat16_rn(x); }
  __device__ __forceinline__ static uint32_t pack(float lo, float hi) {
    return uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
           (uint32_t(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
  }
  __device__ __forceinline__ static void mma(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    prims::mma_m16n8k16_bf16(d, a, b, d);
  }
};

// Staged tile row stride in elements: DP + one 16-byte chunk keeps rows 16-byte aligned and puts the 8 rows a
// fragment read touches in different banks.
template <typename T, int DP>
constexpr int tile_stride() {
  return DP + Elem<T>::kChunk;
}

// Queues the copy of keys [j0, j0 + BK) × dims [0, DP) of one head (x points at key 0, dim 0) into dst.
// vec: 16-byte copies (d, the row stride and x are multiples of 16 bytes); else 4-byte copies for f32 and
// plain loads and stores for halves (visible after the pipeline's barrier like the copies).
template <typename T, int DP, int BK>
__device__ __forceinline__ void stage_tile(T* dst, const T* x, int64_t stride, int64_t j0, int64_t m, int d,
                                           bool vec) {
  constexpr int S = tile_stride<T, DP>(), C = Elem<T>::kChunk;
  if (vec) {
    for (int idx = threadIdx.x; idx < BK * (DP / C); idx += kThreads) {
      const int r = idx / (DP / C), c = (idx % (DP / C)) * C;
      const bool valid = j0 + r < m && c < d;
      prims::cp_async_16(dst + r * S + c, valid ? x + (j0 + r) * stride + c : x, valid);
    }
    return;
  }
  for (int idx = threadIdx.x; idx < BK * DP; idx += kThreads) {
    const int r = idx / DP, c = idx % DP;
    const bool valid = j0 + r < m && c < d;
    if constexpr (sizeof(T) == 4)
      prims::cp_async_4(dst + r * S + c, valid ? x + (j0 + r) * stride + c : x, valid);
    else
      dst[r * S + c] = valid ? x[(j0 + r) * stride + c] : Elem<T>::store(0.0f);
  }
}

// o[16 × DP] += P[16 × 16 keys] · V[keys 16kk .. 16kk+15 of the staged tile vt].
template <typename T, int DP>
__device__ __forceinline__ void pv_step(float (&o)[DP / 8][4], const uint32_t (&pa)[4], const T* vt, int kk) {
  constexpr int S = tile_stride<T, DP>();
  const int lane = prims::lane_id(), g = lane >> 2, t = lane & 3;
  const T* v0 = vt + (kk * 16 + 2 * t) * S + g;
  HGC_UNROLL
  for (int df = 0; df < DP / 8; df++) {
    const T* v = v0 + df * 8;
    const uint32_t vb[2] = {Elem<T>::pack(Elem<T>::load(v[0]), Elem<T>::load(v[S])),
                            Elem<T>::pack(Elem<T>::load(v[8 * S]), Elem<T>::load(v[9 * S]))};
    Elem<T>::mma(o[df], pa, vb);
  }
}

// s = scale·Q·Kᵀ for the warp's 16 queries and the BK keys of the staged tile kt (first key j0); keys ≥ m and
// causally hidden keys are −inf. row0 is the lane's first row (the second is row0 + 8).
template <typename T, int DP, int BK>
__device__ __forceinline__ void tile_scores(float (&s)[BK / 8][4], const uint32_t (&qa)[DP / 16][4], const T* kt,
                                            int64_t j0, int64_t row0, const AttentionArgsOf<T>& a) {
  constexpr int S = tile_stride<T, DP>();
  const int lane = prims::lane_id(), g = lane >> 2, t = lane & 3;
  const int64_t off = a.m - a.n;
  HGC_UNROLL
  for (int nf = 0; nf < BK / 8; nf++) {
    s[nf][0] = s[nf][1] = s[nf][2] = s[nf][3] = 0.0f;
    const T* kr = kt + (nf * 8 + g) * S + 2 * t;
    HGC_UNROLL
    for (int ks = 0; ks < DP / 16; ks++) {
      const T* k = kr + ks * 16;
      const uint32_t kb[2] = {Elem<T>::pack(Elem<T>::load(k[0]), Elem<T>::load(k[1])),
                              Elem<T>::pack(Elem<T>::load(k[8]), Elem<T>::load(k[9]))};
      Elem<T>::mma(s[nf], qa[ks], kb);
    }
    HGC_UNROLL
    for (int e = 0; e < 4; e++) {
      const int64_t j = j0 + nf * 8 + 2 * t + (e & 1), i = row0 + (e >> 1) * 8;
      const bool hidden = j >= a.m || (a.causal && j > i + off);
      s[nf][e] = hidden ? -INFINITY : s[nf][e] * a.scale;
    }
  }
}

// The double-buffered K/V pipeline: tiles [0, tiles) of BK keys; body(k tile, v tile, j0) runs once tile j0
// is in shared memory for every thread. K stages at smem[0], smem[T]; V stages at smem[2T], smem[3T] (replay:
// V only, at smem[0], smem[T]); kx or vx null skips that operand.
template <typename T, int DP, int BK, typename Body>
__device__ __forceinline__ void stream_tiles(T* smem, const T* kx, const T* vx, bool replay, const AttentionArgsOf<T>& a,
                                             int64_t tiles, bool vec, Body body) {
  constexpr int TS = BK * tile_stride<T, DP>();
  T* kbuf = smem;
  T* vbuf = replay ? smem : smem + 2 * TS;
  const int d = static_cast<int>(a.head_dim);
  auto stage = [&](int64_t jt) {
    const int st = static_cast<int>(jt & 1);
    if (kx) stage_tile<T, DP, BK>(kbuf + st * TS, kx, a.k_row_stride, jt * BK, a.m, d, vec);
    if (vx) stage_tile<T, DP, BK>(vbuf + st * TS, vx, a.v_row_stride, jt * BK, a.m, d, vec);
    prims::cp_async_commit();
  };
  if (tiles > 0) stage(0);
  for (int64_t jt = 0; jt < tiles; jt++) {
    if (jt + 1 < tiles) {
      stage(jt + 1);
      prims::cp_async_wait<1>();
    } else {
      prims::cp_async_wait<0>();
    }
    __syncthreads();
    const int st = static_cast<int>(jt & 1);
    body(kbuf + st * TS, vbuf + st * TS, jt * BK);
    __syncthreads();  // every warp is done with this stage before the next prefetch overwrites it
  }
}

// Writes the lane's two rows of the warp's O tile (o · mul[row]) into out.
template <typename T, int DP>
__device__ __forceinline__ void store_rows(const float (&o)[DP / 8][4], const float (&mul)[2], int64_t row0,
                                           const AttentionArgsOf<T>& a, int64_t b, int64_t h) {
  const int t = prims::lane_id() & 3;
  const int d = static_cast<int>(a.head_dim);
  HGC_UNROLL
  for (int r = 0; r < 2; r++) {
    const int64_t i = row0 + r * 8;
    if (i >= a.n) continue;
    T* dst = a.out + (b * a.n + i) * a.out_row_stride + h * d;
    HGC_UNROLL
    for (int df = 0; df < DP / 8; df++) {
      const int c = df * 8 + 2 * t;
      if (c < d) dst[c] = Elem<T>::store(o[df][2 * r] * mul[r]);
      if (c + 1 < d) dst[c + 1] = Elem<T>::store(o[df][2 * r + 1] * mul[r]);
    }
  }
}

template <typename T, int DP, int BK>
__device__ void replay_block(T* smem, const AttentionArgsOf<T>& a, bool vec) {
  const int lane = prims::lane_id(), g = lane >> 2, t = lane & 3;
  const int64_t bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const int64_t n = a.n, m = a.m;
  const int64_t row0 = int64_t(blockIdx.y) * kBlockQ + prims::warp_id() * 16 + g;
  const T* vx = a.v + b * m * a.v_row_stride + h * a.head_dim;
  const float* prow = a.probs + bh * n * m;
  auto p = [&](int64_t i, int64_t j) { return i < n && j < m ? prow[i * m + j] : 0.0f; };
  float o[DP / 8][4] = {};
  stream_tiles<T, DP, BK>(smem, nullptr, vx, true, a, (m + BK - 1) / BK, vec, [&](const T*, const T* vt, int64_t j0) {
    HGC_UNROLL
    for (int kk = 0; kk < BK / 16; kk++) {
      const int64_t j = j0 + kk * 16 + 2 * t;
      const uint32_t pa[4] = {Elem<T>::pack(p(row0, j), p(row0, j + 1)), Elem<T>::pack(p(row0 + 8, j), p(row0 + 8, j + 1)),
                              Elem<T>::pack(p(row0, j + 8), p(row0, j + 9)),
                              Elem<T>::pack(p(row0 + 8, j + 8), p(row0 + 8, j + 9))};
      pv_step<T, DP>(o, pa, vt, kk);
    }
  });
  const float one[2] = {1.0f, 1.0f};
  store_rows<T, DP>(o, one, row0, a, b, h);
}

template <typename T, int DP, int BK>
__device__ void flash_block(T* smem, const AttentionArgsOf<T>& a, bool vec, bool capture) {
  const int lane = prims::lane_id(), g = lane >> 2, t = lane & 3;
  const int64_t bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const int64_t n = a.n, m = a.m, d = a.head_dim;
  const int64_t i0 = int64_t(blockIdx.y) * kBlockQ;
  const int64_t row0 = i0 + prims::warp_id() * 16 + g;
  const T* qx = a.q + b * n * a.q_row_stride + h * d;
  const T* kx = a.k + b * m * a.k_row_stride + h * d;
  const T* vx = a.v + b * m * a.v_row_stride + h * d;

  // Q fragments for the whole key loop (rows ≥ n and dims ≥ d are zeros).
  auto q = [&](int64_t i, int c) { return i < n && c < d ? Elem<T>::load(qx[i * a.q_row_stride + c]) : 0.0f; };
  uint32_t qa[DP / 16][4];
  HGC_UNROLL
  for (int ks = 0; ks < DP / 16; ks++) {
    const int c = ks * 16 + 2 * t;
    qa[ks][0] = Elem<T>::pack(q(row0, c), q(row0, c + 1));
    qa[ks][1] = Elem<T>::pack(q(row0 + 8, c), q(row0 + 8, c + 1));
    qa[ks][2] = Elem<T>::pack(q(row0, c + 8), q(row0, c + 9));
    qa[ks][3] = Elem<T>::pack(q(row0 + 8, c + 8), q(row0 + 8, c + 9));
  }

  // Keys past the block's last query's causal horizon are never needed.
  const int64_t last = (i0 + kBlockQ < n ? i0 + kBlockQ : n) - 1;
  const int64_t jend = a.causal ? (last + (m - n) + 1 < m ? last + (m - n) + 1 : m) : m;
  const int64_t tiles = (jend + BK - 1) / BK;

  float o[DP / 8][4] = {};
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.0f, 0.0f};
  stream_tiles<T, DP, BK>(smem, kx, vx, false, a, tiles, vec, [&](const T* kt, const T* vt, int64_t j0) {
    float s[BK / 8][4];
    tile_scores<T, DP, BK>(s, qa, kt, j0, row0, a);
    float ref[2], alpha[2];
    HGC_UNROLL
    for (int r = 0; r < 2; r++) {
      float mx = -INFINITY;  // fmaxf skips NaN scores; they stay NaN through exp and poison their row
      HGC_UNROLL
      for (int nf = 0; nf < BK / 8; nf++) mx = fmaxf(mx, fmaxf(s[nf][2 * r], s[nf][2 * r + 1]));
      mx = fmaxf(mx, prims::shfl_xor(kFull, mx, 1));
      mx = fmaxf(mx, prims::shfl_xor(kFull, mx, 2));
      const float mnew = fmaxf(mrow[r], mx);
      ref[r] = mnew == -INFINITY ? 0.0f : mnew;  // every key so far hidden: p = 0, not exp(−inf + inf)
      alpha[r] = __expf(mrow[r] - ref[r]);
      mrow[r] = mnew;
    }
    float sum[2] = {0.0f, 0.0f};
    HGC_UNROLL
    for (int nf = 0; nf < BK / 8; nf++)
      HGC_UNROLL
      for (int e = 0; e < 4; e++) {
        s[nf][e] = __expf(s[nf][e] - ref[e >> 1]);
        sum[e >> 1] += s[nf][e];
      }
    HGC_UNROLL
    for (int r = 0; r < 2; r++) lrow[r] = lrow[r] * alpha[r] + sum[r];
    HGC_UNROLL
    for (int df = 0; df < DP / 8; df++) {
      o[df][0] *= alpha[0];
      o[df][1] *= alpha[0];
      o[df][2] *= alpha[1];
      o[df][3] *= alpha[1];
    }
    HGC_UNROLL
    for (int kk = 0; kk < BK / 16; kk++) {
      const uint32_t pa[4] = {Elem<T>::pack(s[2 * kk][0], s[2 * kk][1]), Elem<T>::pack(s[2 * kk][2], s[2 * kk][3]),
                              Elem<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              Elem<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
      pv_step<T, DP>(o, pa, vt, kk);
    }
  });

  float inv[2];
  HGC_UNROLL
  for (int r = 0; r < 2; r++) {
    lrow[r] += prims::shfl_xor(kFull, lrow[r], 1);
    lrow[r] += prims::shfl_xor(kFull, lrow[r], 2);
    inv[r] = lrow[r] == 0.0f ? 0.0f : 1.0f / lrow[r];  // NaN sums stay NaN
  }
  store_rows<T, DP>(o, inv, row0, a, b, h);
  if (!capture) return;

  // Capture: P = exp(s − max) / sum in a second pass over K.
  float ref[2];
  for (int r = 0; r < 2; r++) ref[r] = mrow[r] == -INFINITY ? 0.0f : mrow[r];
  float* prow = a.probs + bh * n * m;
  stream_tiles<T, DP, BK>(smem, kx, nullptr, false, a, tiles, vec, [&](const T* kt, const T*, int64_t j0) {
    float s[BK / 8][4];
    tile_scores<T, DP, BK>(s, qa, kt, j0, row0, a);
    HGC_UNROLL
    for (int nf = 0; nf < BK / 8; nf++)
      HGC_UNROLL
      for (int e = 0; e < 4; e++) {
        const int64_t i = row0 + (e >> 1) * 8, j = j0 + nf * 8 + 2 * t + (e & 1);
        if (i < n && j < m) prow[i * m + j] = __expf(s[nf][e] - ref[e >> 1]) * inv[e >> 1];
      }
  });
  for (int r = 0; r < 2; r++) {
    const int64_t i = row0 + r * 8;
    if (i >= n) continue;
    for (int64_t j = tiles * BK + t; j < m; j += 4) prow[i * m + j] = 0.0f;
  }
}

template <typename T, int DP, int BK>
__global__ void __launch_bounds__(kThreads) attention_flash_kernel(AttentionArgsOf<T> a, bool vec) {
  HGC_DYN_SMEM(T, smem);
  if (a.mode == AttentionMode::Replay)
    replay_block<T, DP, BK>(smem, a, vec);
  else
    flash_block<T, DP, BK>(smem, a, vec, a.mode == AttentionMode::Capture);
}

template <typename T, int DP, int BK>
void run_flash(const AttentionArgsOf<T>& a) {
  static_assert(DP % 16 == 0 && BK % 16 == 0, "tiles are whole mma fragments");
  const bool replay = a.mode == AttentionMode::Replay;
  const int64_t C = Elem<T>::kChunk;
  const bool vec = a.head_dim % C == 0 && a.v_row_stride % C == 0 && aligned_to(a.v, 16) &&
                   (replay || (a.k_row_stride % C == 0 && aligned_to(a.k, 16)));
  const size_t smem = sizeof(T) * size_t(BK) * tile_stride<T, DP>() * (replay ? 2 : 4);
  const int64_t qtiles = (a.n + kBlockQ - 1) / kBlockQ;
  check(qtiles <= 65535 && a.batch * a.heads <= 0x7fffffff, ErrorCode::Shape, "attention: n = ", a.n,
        " queries or batch·heads = ", a.batch * a.heads, " exceed the CUDA grid");
  launch("attention_flash", attention_flash_kernel<T, DP, BK>, dim3(unsigned(a.batch * a.heads), unsigned(qtiles)),
         dim3(kThreads), smem, nullptr, a, vec);
}

// Key tile: 64 keys up to DP = 64, 32 up to 160, 16 at 256 (f32 stages: 53 KB at DP = 48, 84 KB at 160).
template <typename T>
void dispatch(const AttentionArgsOf<T>& a) {
  const int64_t d = a.head_dim;
  if (d <= 32) return run_flash<T, 32, 64>(a);
  if (d <= 48) return run_flash<T, 48, 64>(a);
  if (d <= 64) return run_flash<T, 64, 64>(a);
  if (d <= 80) return run_flash<T, 80, 32>(a);
  if (d <= 96) return run_flash<T, 96, 32>(a);
  if (d <= 128) return run_flash<T, 128, 32>(a);
  if (d <= 160) return run_flash<T, 160, 32>(a);
  return run_flash<T, 256, 16>(a);
}

// The half arguments with typed pointers.
template <typename T>
AttentionArgsOf<T> typed(const AttentionHalfArgs& h) {
  AttentionArgsOf<T> a;
  a.batch = h.batch;
  a.n = h.n;
  a.m = h.m;
  a.heads = h.heads;
  a.head_dim = h.head_dim;
  a.q = static_cast<const T*>(h.q);
  a.k = static_cast<const T*>(h.k);
  a.v = static_cast<const T*>(h.v);
  a.q_row_stride = h.q_row_stride;
  a.k_row_stride = h.k_row_stride;
  a.v_row_stride = h.v_row_stride;
  a.out = static_cast<T*>(h.out);
  a.out_row_stride = h.out_row_stride;
  a.scale = h.scale;
  a.causal = h.causal;
  a.mode = h.mode;
  a.probs = h.probs;
  return a;
}

}  // namespace

void attention(const AttentionArgs& a) {
  if (a.batch <= 0 || a.heads <= 0 || a.n <= 0 || a.head_dim <= 0 || a.m <= 0) return;  // entry rejects m = 0
  if (a.head_dim > kFlashMaxHeadDim) return attention_simt(a);
  dispatch<float>(a);
}

void attention_half(const AttentionHalfArgs& a) {
  if (a.batch <= 0 || a.heads <= 0 || a.n <= 0 || a.head_dim <= 0 || a.m <= 0) return;
  check(a.head_dim <= kFlashMaxHeadDim, ErrorCode::Shape, "attention_half: head dim ", a.head_dim, " exceeds ",
        kFlashMaxHeadDim);
  check(a.dtype == DType::F16 || a.dtype == DType::BF16, ErrorCode::DType, "attention_half: f16 or bf16 expected, got ",
        dtype_name(a.dtype));
  if (a.dtype == DType::F16)
    dispatch<__half>(typed<__half>(a));
  else
    dispatch<__nv_bfloat16>(typed<__nv_bfloat16>(a));
}

}  // namespace hgc::cuda
