// Tensor-core GEMM for f16/bf16 storage: C = act(op(A)·op(B) + bias) + residual (GemmHalfArgs), f32
// accumulation on mma.sync m16n8k16, one rounding to the storage type when C is written.
//
// Block tile BM×BN, K in steps of BK = 32, WARPS_M×WARPS_N warps each owning a WM×WN piece of the tile
// (WM = BM/WARPS_M, WN = BN/WARPS_N) as MI×NI mma tiles of 16×8 (MI = WM/16, NI = WN/8).
//
// Shared memory: STAGES copies of (A tile, B tile), each stored in its global orientation so a 16-byte
// cp.async moves 8 consecutive elements of one global row:
//   A, !trans_a: [BM rows m][BK k]     A, trans_a: [BK rows k][BM m]
//   B,  trans_b: [BN rows n][BK k]     B, !trans_b: [BK rows k][BN n]
// Every row is padded by 8 elements (16 bytes), so the row strides (80 or 272 bytes for the tiles below)
// step 20 or 4 banks: the 8 row addresses of one ldmatrix phase fall in 8 different 4-bank groups.
//
// Pipeline (per block tile): stages 0..STAGES-2 are filled first; at step kt the block waits until tile kt
// has landed (cp_async_wait<STAGES-2>, then __syncthreads, which also tells every warp that the stage about
// to be refilled was consumed at step kt-1), issues the copies of tile kt+STAGES-1 and runs the mma's of
// tile kt. Every step commits one group (possibly empty) so the wait count stays STAGES-2.
//
// Loads: a 16-byte chunk fully inside the operand is a cp.async; fully outside is a cp.async with
// valid=false (zero fill: M/N/K tails contribute 0·0). A chunk that straddles the edge, and every chunk when
// the operand is not 16-byte aligned (odd leading dim, odd batch stride, unaligned base), is staged with
// scalar loads and a plain shared store instead. Plain stores become visible at the same __syncthreads.
//
// Epilogue: the accumulators are parked as f32 in shared memory (over the idle stages), then each thread
// finishes 8-column pieces of C: + bias, activation, + residual, one rounding, one 16-byte store (element by
// element where C, bias or residual are not 16-byte aligned or at the N edge).
//
// Fragments (PTX ISA "Matrix Fragments for mma.m16n8k16", groupID g = lane/4, t = lane%4):
//   A (16×16, row): a[0] = (row g,   k 2t..2t+1)  a[1] = (row g+8, k 2t..)  a[2] = (row g, k 2t+8..)
//                   a[3] = (row g+8, k 2t+8..)
//   B (16×8, col):  b[0] = (k 2t..2t+1, col g)    b[1] = (k 2t+8.., col g)
//   C/D (16×8):     d[0..1] = (row g, cols 2t, 2t+1)   d[2..3] = (row g+8, cols 2t, 2t+1)
// ldmatrix gives lane l row l/4, elements 2(l%4)+{0,1} of each 8×8 matrix, so an x4 of the four 8×8
// quarters (m0-7|k0-7, m8-15|k0-7, m0-7|k8-15, m8-15|k8-15) of a k-contiguous A tile is exactly a[0..3].
// For an m-contiguous A tile (rows are k) the .trans form hands lane l element [k 2(l%4)+j][m l/4] of each
// quarter, which is the same fragment. B likewise: an x4 covers two n8 fragments (n0-7 and n8-15, each with
// k0-7 and k8-15); plain for k-contiguous tiles (rows n), .trans for n-contiguous tiles (rows k).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "gemm.cuh"
#include "gemm_epilogue.cuh"
#include "launch.cuh"
#include "mma_tile.cuh"
#include "prims.cuh"

namespace hgc::cuda {
namespace {

// MIN_BLOCKS: resident blocks per SM to plan registers for (__launch_bounds__), 128 registers per thread
// for both configurations.
template <int BM_, int BN_, int WARPS_M_, int WARPS_N_, int STAGES_, int MIN_BLOCKS_>
struct TcConfig {
  static constexpr int BM = BM_, BN = BN_, BK = 32, PAD = 8;
  static constexpr int WARPS_M = WARPS_M_, WARPS_N = WARPS_N_, STAGES = STAGES_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int THREADS = 32 * WARPS_M * WARPS_N;
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;
  static constexpr int MI = WM / 16, NI = WN / 8;
  static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile must be whole m16 tiles and pairs of n8 tiles");
  // Elements of one stage's A and B tiles, for either orientation.
  static constexpr int a_elems(bool trans_a) { return trans_a ? BK * (BM + PAD) : BM * (BK + PAD); }
  static constexpr int b_elems(bool trans_b) { return trans_b ? BN * (BK + PAD) : BK * (BN + PAD); }
  static constexpr size_t smem_bytes(bool trans_a, bool trans_b) {
    return size_t(STAGES) * size_t(a_elems(trans_a) + b_elems(trans_b)) * sizeof(uint16_t);
  }
};
using BigTile = TcConfig<128, 128, 2, 4, 4, 2>;  // 256 threads, warp tile 64×32, 80 KB (or 68 KB) smem
using SmallTile = TcConfig<64, 64, 2, 2, 3, 4>;  // 128 threads, warp tile 32×32, 30 KB (or 27 KB) smem

struct TcParams {
  const uint16_t* a;
  const uint16_t* b;
  uint16_t* c;
  const uint16_t* bias;
  const uint16_t* residual;
  int64_t batch, m, n, k;
  int64_t lda, ldb, ldc;
  int64_t stride_a, stride_b, stride_c, stride_res;
  int act;
  bool async_a, async_b;  // the operand allows 16-byte cp.async (see tc_async_ok)
  bool vec_io;            // C, residual and bias allow 16-byte accesses of 8-column pieces
};

template <bool kBf16>
__device__ __forceinline__ float half_to_float(uint16_t h) {
  if (kBf16) return __uint_as_float(uint32_t(h) << 16);
  return __half2float(__ushort_as_half(h));
}

// Round to nearest even, as the host conversions of include/hgc/dtype.h (bf16 spelled out so both backends
// agree bit for bit, NaN kept quiet).
template <bool kBf16>
__device__ __forceinline__ uint16_t float_to_half(float v) {
  if (kBf16) {
    const uint32_t u = __float_as_uint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  return __half_as_ushort(__float2half_rn(v));
}

// 8 consecutive 16-bit values from / to a 16-byte aligned address (one vector access each).
__device__ __forceinline__ void unpack8(uint16_t e[8], const uint16_t* src) {
  const uint4 q = *reinterpret_cast<const uint4*>(src);
  const uint32_t w[4] = {q.x, q.y, q.z, q.w};
  HGC_UNROLL
  for (int i = 0; i < 4; i++) {
    e[2 * i] = uint16_t(w[i] & 0xffffu);
    e[2 * i + 1] = uint16_t(w[i] >> 16);
  }
}
__device__ __forceinline__ void pack8(uint16_t* dst, const uint16_t e[8]) {
  uint4 q;
  q.x = uint32_t(e[0]) | (uint32_t(e[1]) << 16);
  q.y = uint32_t(e[2]) | (uint32_t(e[3]) << 16);
  q.z = uint32_t(e[4]) | (uint32_t(e[5]) << 16);
  q.w = uint32_t(e[6]) | (uint32_t(e[7]) << 16);
  *reinterpret_cast<uint4*>(dst) = q;
}

// One 16-byte chunk of a tile: elements [inner, inner+8) of global row `outer` (row length ld) into dst.
// Rows >= outer_ext and elements >= inner_ext read as zero.
__device__ __forceinline__ void load_chunk(uint16_t* dst, const uint16_t* base, int64_t ld, int64_t outer,
                                           int64_t inner, int64_t outer_ext, int64_t inner_ext, bool async) {
  int64_t valid = outer < outer_ext ? inner_ext - inner : 0;
  valid = valid < 0 ? 0 : (valid > 8 ? 8 : valid);
  if (async && (valid == 8 || valid == 0)) {
    prims::cp_async_16(dst, valid ? base + outer * ld + inner : base, valid == 8);
    return;
  }
  uint16_t v[8];
  const uint16_t* src = valid ? base + outer * ld + inner : base;
  HGC_UNROLL
  for (int j = 0; j < 8; j++) v[j] = j < valid ? src[j] : uint16_t(0);
  uint32_t* d = reinterpret_cast<uint32_t*>(dst);
  HGC_UNROLL
  for (int j = 0; j < 4; j++) d[j] = uint32_t(v[2 * j]) | (uint32_t(v[2 * j + 1]) << 16);
}

template <class Cfg, bool kBf16, bool kTransA, bool kTransB>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS) gemm_tc_kernel(TcParams p) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, PAD = Cfg::PAD, S = Cfg::STAGES;
  constexpr int MI = Cfg::MI, NI = Cfg::NI, WM = Cfg::WM, WN = Cfg::WN, THREADS = Cfg::THREADS;
  constexpr int A_ELEMS = Cfg::a_elems(kTransA), B_ELEMS = Cfg::b_elems(kTransB);
  constexpr int SA = kTransA ? BM + PAD : BK + PAD;  // row stride of the A tile (elements)
  constexpr int SB = kTransB ? BK + PAD : BN + PAD;
  constexpr int A_CPR = (kTransA ? BM : BK) / 8;     // 16-byte chunks per tile row
  constexpr int B_CPR = (kTransB ? BK : BN) / 8;
  constexpr int A_CHUNKS = (kTransA ? BK : BM) * A_CPR;
  constexpr int B_CHUNKS = (kTransB ? BN : BK) * B_CPR;
  constexpr int SC = BN + 8;  // row stride (floats) of the staged C tile: 8-byte stores hit distinct banks
  static_assert(size_t(BM) * SC * sizeof(float) <= Cfg::smem_bytes(kTransA, kTransB), "C tile must fit the stages");
  HGC_DYN_SMEM(uint16_t, smem);

  const int tid = threadIdx.x;
  const int lane = int(prims::lane_id()), warp = int(prims::warp_id());
  const int warp_m = warp / Cfg::WARPS_N, warp_n = warp % Cfg::WARPS_N;
  const int g = lane / 4, t = lane % 4;
  const int64_t m_tiles = (p.m + BM - 1) / BM, n_tiles = (p.n + BN - 1) / BN, k_tiles = (p.k + BK - 1) / BK;

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    const uint16_t* A = p.a + z * p.stride_a;
    const uint16_t* B = p.b + z * p.stride_b;
    for (int64_t tm = blockIdx.y; tm < m_tiles; tm += gridDim.y) {
      for (int64_t tn = blockIdx.x; tn < n_tiles; tn += gridDim.x) {
        const int64_t m0 = tm * BM, n0 = tn * BN;

        auto load_stage = [&](int stage, int64_t kt) {
          uint16_t* sa = smem + stage * (A_ELEMS + B_ELEMS);
          uint16_t* sb = sa + A_ELEMS;
          const int64_t k0 = kt * BK;
          for (int ch = tid; ch < A_CHUNKS; ch += THREADS) {
            const int row = ch / A_CPR, col = (ch % A_CPR) * 8;
            if (kTransA)
              load_chunk(sa + row * SA + col, A, p.lda, k0 + row, m0 + col, p.k, p.m, p.async_a);
            else
              load_chunk(sa + row * SA + col, A, p.lda, m0 + row, k0 + col, p.m, p.k, p.async_a);
          }
          for (int ch = tid; ch < B_CHUNKS; ch += THREADS) {
            const int row = ch / B_CPR, col = (ch % B_CPR) * 8;
            if (kTransB)
              load_chunk(sb + row * SB + col, B, p.ldb, n0 + row, k0 + col, p.n, p.k, p.async_b);
            else
              load_chunk(sb + row * SB + col, B, p.ldb, k0 + row, n0 + col, p.k, p.n, p.async_b);
          }
        };

        float acc[MI][NI][4];
        zero_warp_tile(acc);

        for (int s = 0; s < S - 1; s++) {
          if (s < k_tiles) load_stage(s, s);
          prims::cp_async_commit();
        }
        int read_stage = 0, write_stage = S - 1;  // kt % S and (kt + S - 1) % S
        for (int64_t kt = 0; kt < k_tiles; kt++) {
          prims::cp_async_wait<S - 2>();
          __syncthreads();
          if (kt + S - 1 < k_tiles) load_stage(write_stage, kt + S - 1);
          prims::cp_async_commit();

          const uint16_t* sa = smem + read_stage * (A_ELEMS + B_ELEMS);
          const uint16_t* sb = sa + A_ELEMS;
          write_stage = read_stage;  // read now, refilled at the next step
          read_stage = read_stage + 1 == S ? 0 : read_stage + 1;
          HGC_UNROLL
          for (int ks = 0; ks < BK; ks += 16) {
            uint32_t af[MI][4], bf[NI][2];
            const int quad = lane / 8, r8 = lane % 8;
            HGC_UNROLL
            for (int i = 0; i < MI; i++) {
              const int mb = warp_m * WM + i * 16;
              if (kTransA)  // rows k: quarter q at (k + 8·(q/2), m + 8·(q%2))
                prims::ldmatrix_x4_trans(af[i], sa + (ks + r8 + (quad / 2) * 8) * SA + mb + (quad % 2) * 8);
              else  // rows m: lanes 0-15 give rows m0..15 at k, lanes 16-31 the same rows at k+8
                prims::ldmatrix_x4(af[i], sa + (mb + lane % 16) * SA + ks + (lane / 16) * 8);
            }
            HGC_UNROLL
            for (int j = 0; j < NI; j += 2) {
              const int nb = warp_n * WN + j * 8;
              uint32_t r[4];
              if (kTransB)  // rows n: quarter q at (n + 8·(q/2), k + 8·(q%2))
                prims::ldmatrix_x4(r, sb + (nb + r8 + (quad / 2) * 8) * SB + ks + (quad % 2) * 8);
              else  // rows k: quarter q at (k + 8·(q%2), n + 8·(q/2))
                prims::ldmatrix_x4_trans(r, sb + (ks + r8 + (quad % 2) * 8) * SB + nb + (quad / 2) * 8);
              bf[j][0] = r[0];
              bf[j][1] = r[1];
              bf[j + 1][0] = r[2];
              bf[j + 1][1] = r[3];
            }
            mma_warp_tile<kBf16>(acc, af, bf);
          }
        }
        prims::cp_async_wait_all();  // only empty groups remain; drain them before the stages are reused
        __syncthreads();

        // Epilogue through shared memory, so that C is written in whole 16-byte row pieces: the warps park
        // their raw accumulators in an f32 tile [BM][BN + 8] over the idle stages, then each thread takes
        // 8-column pieces of it: + bias, activation, + residual, one rounding, store. Every element of C is
        // read (residual) and written by one thread, so a residual that is C itself is fine.
        float* cs = reinterpret_cast<float*>(smem);
        HGC_UNROLL
        for (int i = 0; i < MI; i++) {
          HGC_UNROLL
          for (int j = 0; j < NI; j++) {
            HGC_UNROLL
            for (int h = 0; h < 2; h++) {
              const int r = warp_m * WM + i * 16 + g + 8 * h, c = warp_n * WN + j * 8 + 2 * t;
              *reinterpret_cast<float2*>(cs + r * SC + c) = make_float2(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
            }
          }
        }
        __syncthreads();
        uint16_t* C = p.c + z * p.stride_c;
        const uint16_t* R = p.residual ? p.residual + z * p.stride_res : nullptr;
        for (int ch = tid; ch < BM * (BN / 8); ch += THREADS) {
          const int r = ch / (BN / 8), c = (ch % (BN / 8)) * 8;
          const int64_t row = m0 + r, col = n0 + c;
          if (row >= p.m || col >= p.n) continue;
          const float4 lo = *reinterpret_cast<const float4*>(cs + r * SC + c);
          const float4 hi = *reinterpret_cast<const float4*>(cs + r * SC + c + 4);
          float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
          const int64_t off = row * p.ldc + col;
          if (p.vec_io && col + 8 <= p.n) {
            uint16_t e[8];
            if (p.bias) {
              unpack8(e, p.bias + col);
              HGC_UNROLL
              for (int q = 0; q < 8; q++) v[q] += half_to_float<kBf16>(e[q]);
            }
            HGC_UNROLL
            for (int q = 0; q < 8; q++) v[q] = gemm_activation(v[q], p.act);
            if (R) {
              unpack8(e, R + off);
              HGC_UNROLL
              for (int q = 0; q < 8; q++) v[q] += half_to_float<kBf16>(e[q]);
            }
            HGC_UNROLL
            for (int q = 0; q < 8; q++) e[q] = float_to_half<kBf16>(v[q]);
            pack8(C + off, e);
          } else {
            const int count = p.n - col < 8 ? int(p.n - col) : 8;
            HGC_UNROLL
            for (int q = 0; q < 8; q++) {
              if (q >= count) break;
              float x = v[q];
              if (p.bias) x += half_to_float<kBf16>(p.bias[col + q]);
              x = gemm_activation(x, p.act);
              if (R) x += half_to_float<kBf16>(R[off + q]);
              C[off + q] = float_to_half<kBf16>(x);
            }
          }
        }
        __syncthreads();  // the next tile's copies overwrite the staged C tile
      }
    }
  }
}

bool aligned(const void* p, unsigned bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// cp.async moves 16 bytes = 8 elements: the base must be 16-byte aligned and every row and batch start a
// multiple of 8 elements from it (stride 0, a shared operand, is fine).
bool tc_async_ok(const void* base, int64_t ld, int64_t stride) {
  return aligned(base, 16) && ld % 8 == 0 && stride % 8 == 0;
}

int multiprocessors() {
  static const int count = [] {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
      cudaGetLastError();
      return 1;
    }
    return prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
  }();
  return count;
}

template <class Cfg, bool kBf16, bool kTransA, bool kTransB>
void launch_tc(const TcParams& p) {
  const int64_t m_tiles = (p.m + Cfg::BM - 1) / Cfg::BM, n_tiles = (p.n + Cfg::BN - 1) / Cfg::BN;
  // Oversized grids are folded into the kernel's tile loops.
  const dim3 grid(unsigned(n_tiles < 0x7fffffff ? n_tiles : 0x7fffffff), unsigned(m_tiles < 65535 ? m_tiles : 65535),
                  unsigned(p.batch < 65535 ? p.batch : 65535));
  launch(kBf16 ? "gemm (tensor cores, bf16)" : "gemm (tensor cores, f16)", gemm_tc_kernel<Cfg, kBf16, kTransA, kTransB>,
         grid, dim3(Cfg::THREADS), Cfg::smem_bytes(kTransA, kTransB), nullptr, p);
}

template <class Cfg, bool kBf16>
void dispatch_trans(const TcParams& p, bool trans_a, bool trans_b) {
  if (trans_a) {
    if (trans_b) launch_tc<Cfg, kBf16, true, true>(p);
    else launch_tc<Cfg, kBf16, true, false>(p);
  } else {
    if (trans_b) launch_tc<Cfg, kBf16, false, true>(p);
    else launch_tc<Cfg, kBf16, false, false>(p);
  }
}

template <bool kBf16>
void dispatch_tile(const TcParams& p, bool trans_a, bool trans_b) {
  // The 128×128 tile needs about a full wave of blocks to pay off; smaller problems use 64×64 tiles.
  const int64_t big_blocks = ((p.m + 127) / 128) * ((p.n + 127) / 128) * p.batch;
  if (gemm_big_tiles(big_blocks >= multiprocessors()))
    dispatch_trans<BigTile, kBf16>(p, trans_a, trans_b);
  else
    dispatch_trans<SmallTile, kBf16>(p, trans_a, trans_b);
}

}  // namespace

void gemm_half(const GemmHalfArgs& g) {
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
  TcParams p;
  p.a = static_cast<const uint16_t*>(g.a);
  p.b = static_cast<const uint16_t*>(g.b);
  p.c = static_cast<uint16_t*>(g.c);
  p.bias = static_cast<const uint16_t*>(g.bias);
  p.residual = static_cast<const uint16_t*>(g.residual);
  p.batch = g.batch;
  p.m = g.m;
  p.n = g.n;
  p.k = g.k;
  p.lda = g.lda;
  p.ldb = g.ldb;
  p.ldc = g.ldc;
  p.stride_a = g.stride_a;
  p.stride_b = g.stride_b;
  p.stride_c = g.stride_c;
  p.stride_res = g.stride_residual;
  p.act = int(g.act);
  p.async_a = g.k > 0 && tc_async_ok(g.a, g.lda, g.stride_a);
  p.async_b = g.k > 0 && tc_async_ok(g.b, g.ldb, g.stride_b);
  p.vec_io = aligned(g.c, 16) && g.ldc % 8 == 0 && g.stride_c % 8 == 0 && (!g.bias || aligned(g.bias, 16)) &&
             (!g.residual || (aligned(g.residual, 16) && g.stride_residual % 8 == 0));
  if (g.dtype == DType::BF16)
    dispatch_tile<true>(p, g.trans_a, g.trans_b);
  else
    dispatch_tile<false>(p, g.trans_a, g.trans_b);
}

}  // namespace hgc::cuda
