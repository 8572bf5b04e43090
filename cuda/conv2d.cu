// 2-D convolution (NCHW, f32 / f16 / bf16 tensors, groups = 1) as an implicit GEMM on the tensor cores:
//   y[img, co, oy, ox] = Σ_k A[m, k] · B[k, co] + bias[co] + residual[img, co, oy, ox]
// with M = n·oh·ow output pixels (m = (img·oh + oy)·ow + ox), N = cout and K = kh·kw·cp taps
// (k = (ky·kw + kx)·cp + ci; cp = cin rounded up to 8, the padding channels are zero).
//
// Operands: one pass per call (conv2d_layout.cu) writes the input as 16-bit NHWC and the weight as 16-bit
// [cout, kh, kw, cp] into scratch from the backend allocator (f16, or bf16 for bf16 tensors); the product is
// 16-bit × 16-bit with f32 accumulation (mma.m16n8k16), so for f32 tensors the result is that of a naive
// f32-accumulating convolution of the f16-rounded inputs (docs/kernels-and-simulator.md gives the
// tolerance); f16/bf16 tensors are staged exactly and y is rounded once from f32. The im2col matrix A is never materialised: the tile
// loader computes, for each of its rows (pixels) and 8-wide k chunks, the input position
// (oy·stride − pad + ky, ox·stride − pad + kx) and copies the 8 channels there with one 16-byte cp.async;
// chunks outside the image (padding), past K or past M are zero-filled by cp.async(valid = false). B tiles
// are rows of the repacked weight, likewise zero-filled past cout or K.
//
// Tiling: a block computes BM pixels × BN channels with WM × WN warps; k advances BK = 32 at a time through
// a STAGES-deep cp.async ring in dynamic shared memory (rows padded to 40 halves = 80 bytes, so the eight
// 16-byte rows an ldmatrix reads fall in distinct banks). Each warp loads its A fragments with ldmatrix.x4
// (16×16) and its B fragments with ldmatrix.x4 (two n8 × k16 tiles of the [n][k] B tile) and issues
// (BM/WM/16)·(BN/WN/8) mma per 16 k. Epilogue: accumulators + bias + residual stored straight to NCHW y
// (for one channel, the 8 row-lanes of a fragment write 8 consecutive pixels).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "conv2d.cuh"
#include "hgc/error.h"
#include "launch.cuh"
#include "mma_tile.cuh"
#include "prims.cuh"

namespace hgc::cuda {
namespace {

constexpr int BK = 32;
constexpr int LDS = BK + 8;  // halves per shared-memory row

struct ConvGeom {
  int h, w, cout, kw, stride, pad, oh, ow, cp, K, M;
};

template <int BM, int BN, int STAGES>
constexpr size_t smem_bytes() {
  return size_t(STAGES) * (BM + BN) * LDS * sizeof(uint16_t);
}

__device__ __forceinline__ float load_io(const void* p, int io, int64_t i) {
  if (io == int(ConvIo::F32)) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  if (io == int(ConvIo::BF16)) return __uint_as_float(uint32_t(h) << 16);
  return __half2float(__ushort_as_half(h));
}

__device__ __forceinline__ void store_io(void* p, int io, int64_t i, float v) {
  if (io == int(ConvIo::F32))
    static_cast<float*>(p)[i] = v;
  else if (io == int(ConvIo::BF16))
    static_cast<uint16_t*>(p)[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
  else
    static_cast<uint16_t*>(p)[i] = __half_as_ushort(__float2half_rn(v));
}

// BF16: the staged operands are bf16 (bf16 tensors), else f16. io: storage of bias, residual and y.
template <int BM, int BN, int WM, int WN, int STAGES, bool BF16>
__global__ void __launch_bounds__(WM* WN * 32)
    conv2d_tc_kernel(ConvGeom g, const uint16_t* xh, const uint16_t* wh, const void* bias, const void* residual,
                     void* y, int io) {
  constexpr int T = WM * WN * 32;
  constexpr int WTM = BM / WM, WTN = BN / WN;  // warp tile
  constexpr int MI = WTM / 16, NI = WTN / 8;
  constexpr int A_ITERS = BM * (BK / 8) / T, B_ITERS = BN * (BK / 8) / T;
  constexpr int ROW_STEP = T / (BK / 8);  // rows between a thread's chunks
  static_assert(MI >= 1 && NI >= 2 && NI % 2 == 0, "warp tile must be a multiple of 16×16");
  static_assert(A_ITERS >= 1 && B_ITERS >= 1 && BM * (BK / 8) % T == 0 && BN * (BK / 8) % T == 0,
                "tile loads must divide evenly among the threads");
  HGC_DYN_SMEM(uint16_t, smem);

  const int tid = threadIdx.x, lane = int(prims::lane_id()), warp = int(prims::warp_id());
  const int wm = warp / WN, wn = warp % WN;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int kc = tid % (BK / 8);  // this thread's 8-wide k chunk within a tile
  const int P = g.oh * g.ow;

  // The A rows (output pixels) this thread loads: image base offset and top-left input position.
  int64_t a_base[A_ITERS];
  int a_iy[A_ITERS], a_ix[A_ITERS];
  bool a_ok[A_ITERS];
  HGC_UNROLL
  for (int i = 0; i < A_ITERS; i++) {
    const int m = m0 + tid / (BK / 8) + i * ROW_STEP;
    a_ok[i] = m < g.M;
    const int mm = a_ok[i] ? m : 0, img = mm / P, pix = mm - img * P, oy = pix / g.ow, ox = pix - oy * g.ow;
    a_base[i] = int64_t(img) * g.h * g.w * g.cp;
    a_iy[i] = oy * g.stride - g.pad;
    a_ix[i] = ox * g.stride - g.pad;
  }

  auto load_tile = [&](int stage, int k0) {
    uint16_t* As = smem + size_t(stage) * (BM + BN) * LDS;
    uint16_t* Bs = As + BM * LDS;
    const int k = k0 + kc * 8;
    const bool k_ok = k < g.K;
    const int tap = k / g.cp, ci = k - tap * g.cp, ky = tap / g.kw, kx = tap - ky * g.kw;
    HGC_UNROLL
    for (int i = 0; i < A_ITERS; i++) {
      const int row = tid / (BK / 8) + i * ROW_STEP, iy = a_iy[i] + ky, ix = a_ix[i] + kx;
      const bool ok = a_ok[i] && k_ok && unsigned(iy) < unsigned(g.h) && unsigned(ix) < unsigned(g.w);
      const uint16_t* src = ok ? xh + a_base[i] + (int64_t(iy) * g.w + ix) * g.cp + ci : xh;
      prims::cp_async_16(As + row * LDS + kc * 8, src, ok);
    }
    HGC_UNROLL
    for (int i = 0; i < B_ITERS; i++) {
      const int row = tid / (BK / 8) + i * ROW_STEP, co = n0 + row;
      const bool ok = co < g.cout && k_ok;
      prims::cp_async_16(Bs + row * LDS + kc * 8, ok ? wh + int64_t(co) * g.K + k : wh, ok);
    }
  };

  float acc[MI][NI][4];
  zero_warp_tile(acc);

  const int KT = (g.K + BK - 1) / BK;
  // Prologue: STAGES − 1 tiles in flight. Every iteration commits one group (possibly empty), so
  // wait<STAGES − 2> always means "the tile about to be used has landed".
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < KT) load_tile(s, s * BK);
    prims::cp_async_commit();
  }
  for (int kt = 0; kt < KT; kt++) {
    prims::cp_async_wait<STAGES - 2>();
    __syncthreads();  // tile kt visible to all; everyone is done with tile kt − 1, whose slot is refilled now
    const int next = kt + STAGES - 1;
    if (next < KT) load_tile(next % STAGES, next * BK);
    prims::cp_async_commit();

    const uint16_t* As = smem + size_t(kt % STAGES) * (BM + BN) * LDS;
    const uint16_t* Bs = As + BM * LDS;
    HGC_UNROLL
    for (int ks = 0; ks < BK; ks += 16) {
      uint32_t a[MI][4], b[NI][2];
      HGC_UNROLL
      for (int i = 0; i < MI; i++)  // lanes 0-15: rows 0-15 at k 0; lanes 16-31: rows 0-15 at k 8
        prims::ldmatrix_x4(a[i], As + (wm * WTM + i * 16 + (lane & 15)) * LDS + ks + (lane >> 4) * 8);
      HGC_UNROLL
      for (int j = 0; j < NI; j += 2) {  // matrices: (n 0-7, k 0), (n 0-7, k 8), (n 8-15, k 0), (n 8-15, k 8)
        uint32_t r[4];
        prims::ldmatrix_x4(r, Bs + (wn * WTN + j * 8 + (lane & 7) + (lane >> 4) * 8) * LDS + ks + ((lane >> 3) & 1) * 8);
        b[j][0] = r[0];
        b[j][1] = r[1];
        b[j + 1][0] = r[2];
        b[j + 1][1] = r[3];
      }
      mma_warp_tile<BF16>(acc, a, b);
    }
  }
  prims::cp_async_wait_all();  // nothing useful is pending, but no copy may outlive the block

  // Epilogue: lane (gr, tq) holds rows gr and gr + 8, columns 2tq and 2tq + 1 of each 16×8 tile.
  const int gr = lane >> 2, tq = lane & 3;
  HGC_UNROLL
  for (int i = 0; i < MI; i++) {
    HGC_UNROLL
    for (int hi = 0; hi < 2; hi++) {
      const int m = m0 + wm * WTM + i * 16 + gr + hi * 8;
      if (m >= g.M) continue;
      const int img = m / P, pix = m - img * P;
      HGC_UNROLL
      for (int j = 0; j < NI; j++) {
        HGC_UNROLL
        for (int e = 0; e < 2; e++) {
          const int co = n0 + wn * WTN + j * 8 + tq * 2 + e;
          if (co >= g.cout) continue;
          const int64_t idx = (int64_t(img) * g.cout + co) * P + pix;
          float v = acc[i][j][hi * 2 + e];
          if (bias) v += load_io(bias, io, co);
          if (residual) v += load_io(residual, io, idx);
          store_io(y, io, idx, v);
        }
      }
    }
  }
}

template <int BM, int BN, int WM, int WN, int STAGES>
void run_conv(const char* name, const ConvGeom& g, const uint16_t* xs, const uint16_t* ws, const ConvCall& c) {
  const dim3 grid(unsigned((g.M + BM - 1) / BM), unsigned((g.cout + BN - 1) / BN));
  constexpr size_t smem = smem_bytes<BM, BN, STAGES>();
  if (c.io == ConvIo::BF16)
    launch(name, conv2d_tc_kernel<BM, BN, WM, WN, STAGES, true>, grid, dim3(WM * WN * 32), smem, nullptr, g, xs, ws,
           c.bias, c.residual, c.y, int(c.io));
  else
    launch(name, conv2d_tc_kernel<BM, BN, WM, WN, STAGES, false>, grid, dim3(WM * WN * 32), smem, nullptr, g, xs, ws,
           c.bias, c.residual, c.y, int(c.io));
}

struct Sizes {
  int64_t cp, k, xs_bytes, ws_bytes;
};

Sizes sizes_of(const Conv2dSizes& a) {
  Sizes s;
  s.cp = conv2d_padded_channels(a.cin);
  s.k = a.kh * a.kw * s.cp;
  s.xs_bytes = a.n * a.h * a.w * s.cp * 2;  // a multiple of 16, so ws stays 16-byte aligned
  s.ws_bytes = a.cout * s.k * 2;
  return s;
}

void run(const ConvCall& c) {
  const Conv2dSizes& a = c.sizes;
  const Sizes s = sizes_of(a);
  constexpr int64_t kMaxInt = 0x7fffffff;
  // The kernel indexes pixels, channels and taps in 32 bits (addresses are 64-bit); grids are ≤ 65535 in y/z.
  check(a.n * a.oh * a.ow <= kMaxInt && s.k <= kMaxInt && a.n * a.h * a.w <= kMaxInt && a.n <= 65535 &&
            a.cout <= 64 * 65535 && s.cp <= 32 * 65535 && a.n * a.norm_groups <= kMaxInt,
        ErrorCode::Shape, "conv2d on the cuda backend: sizes exceed its 32-bit indexing (n ", a.n, ", cin ", a.cin,
        ", ", a.h, "×", a.w, ", cout ", a.cout, ")");
  check(c.scratch != nullptr || conv2d_scratch_bytes(a) == 0, ErrorCode::Arg,
        "conv2d: the cuda backend needs scratch memory");
  char* scratch = static_cast<char*>(c.scratch);
  const uint16_t* xs = reinterpret_cast<const uint16_t*>(scratch);
  const uint16_t* ws = reinterpret_cast<const uint16_t*>(scratch + s.xs_bytes);
  conv2d_pack_input(c, scratch, scratch + s.xs_bytes + s.ws_bytes);
  conv2d_pack_weight(c, scratch + s.xs_bytes);

  ConvGeom g;
  g.h = int(a.h);
  g.w = int(a.w);
  g.cout = int(a.cout);
  g.kw = int(a.kw);
  g.stride = int(a.stride);
  g.pad = int(a.pad);
  g.oh = int(a.oh);
  g.ow = int(a.ow);
  g.cp = int(s.cp);
  g.K = int(s.k);
  g.M = int(a.n * a.oh * a.ow);
  // Large tiles once there are enough pixels and channels to fill them (SD1.5's 320+ channel convolutions);
  // small tiles keep narrow or small convolutions from wasting most of each block.
  if (g.M >= 2048 && g.cout >= 128)
    run_conv<128, 128, 2, 4, 4>("conv2d_tc_128x128", g, xs, ws, c);
  else
    run_conv<64, 64, 2, 2, 3>("conv2d_tc_64x64", g, xs, ws, c);
}

}  // namespace

int64_t conv2d_scratch_bytes(const Conv2dSizes& a) {
  const Sizes s = sizes_of(a);
  return s.xs_bytes + s.ws_bytes + conv2d_norm_stats_bytes(a);
}

namespace {

// The fields both launchers' arguments share.
template <typename Args>
ConvCall call_of(const Args& a, ConvIo io) {
  ConvCall c;
  c.sizes = a;
  c.io = io;
  c.x = a.x;
  c.weight = a.weight;
  c.bias = a.bias;
  c.residual = a.residual;
  c.y = a.y;
  c.scratch = a.scratch;
  return c;
}

}  // namespace

void conv2d(const Conv2dArgs& a) {
  ConvCall c = call_of(a, ConvIo::F32);
  c.norm_gamma = a.norm_gamma;
  c.norm_beta = a.norm_beta;
  c.norm_eps = a.norm_eps;
  c.norm_silu = a.norm_silu;
  run(c);
}

void conv2d_half(const Conv2dHalfArgs& a) {
  check(a.dtype == DType::F16 || a.dtype == DType::BF16, ErrorCode::DType, "conv2d_half: f16 or bf16 tensors only");
  check(a.norm_groups == 0, ErrorCode::Arg, "conv2d_half: GroupNorm is applied by the entry for 16-bit tensors");
  run(call_of(a, a.dtype == DType::BF16 ? ConvIo::BF16 : ConvIo::F16));
}

}  // namespace hgc::cuda
