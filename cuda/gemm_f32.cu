// f32 GEMM on the CUDA cores (SIMT): C = act(op(A)·op(B) + bias) + residual with f32 storage and f32
// fused multiply-adds (GemmArgs); the fallback for f32 tensors, which the tensor-core path does not take.
//
// Block tile BM×BN, K in steps of BK, each thread owning TM×TN outputs. A and B tiles are staged in shared
// memory k-major (As[k][m], Bs[k][n]) whatever their global orientation, so the inner loop reads one
// broadcast A value per row and one B value per column. Thread (ty, tx) owns rows ty + i·(BM/TM) and
// columns tx + j·(BN/TN): neighbouring threads read neighbouring Bs words (no bank conflicts) and write
// neighbouring C columns (coalesced). Global loads map consecutive threads to the operand's contiguous
// dimension; everything outside M, N or K reads as 0.
#include <cuda_runtime.h>

#include <cstdint>

#include "gemm.cuh"
#include "gemm_epilogue.cuh"
#include "launch.cuh"

namespace hgc::cuda {
namespace {

struct F32Params {
  const float* a;
  const float* b;
  float* c;
  const float* bias;
  const float* residual;
  int64_t batch, m, n, k;
  int64_t lda, ldb, ldc;
  int64_t stride_a, stride_b, stride_c, stride_res;
  int act;
};

template <int BM_, int BN_, int BK_, int TM_, int TN_, int MIN_BLOCKS_>
struct F32Config {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int TX = BN / TN, TY = BM / TM, THREADS = TX * TY;
  static constexpr int PAD = 4;  // keeps the k-major stores of a k-contiguous operand off one bank
  static_assert((BM * BK) % THREADS == 0 && (BN * BK) % THREADS == 0, "tile loads must split evenly");
};
using BigF32 = F32Config<128, 128, 16, 8, 8, 2>;  // 256 threads, ≤ 128 registers
using SmallF32 = F32Config<64, 64, 16, 4, 4, 4>;  // 256 threads, ≤ 64 registers

template <class Cfg, bool kTransA, bool kTransB>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS) gemm_f32_kernel(F32Params p) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int TX = Cfg::TX, TY = Cfg::TY, THREADS = Cfg::THREADS;
  constexpr int SA = BM + Cfg::PAD, SB = BN + Cfg::PAD;
  __shared__ float as[BK * SA];
  __shared__ float bs[BK * SB];

  const int tid = threadIdx.x;
  const int tx = tid % TX, ty = tid / TX;
  const int64_t m_tiles = (p.m + BM - 1) / BM, n_tiles = (p.n + BN - 1) / BN;

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    const float* A = p.a + z * p.stride_a;
    const float* B = p.b + z * p.stride_b;
    for (int64_t tm = blockIdx.y; tm < m_tiles; tm += gridDim.y) {
      for (int64_t tn = blockIdx.x; tn < n_tiles; tn += gridDim.x) {
        const int64_t m0 = tm * BM, n0 = tn * BN;
        float acc[TM][TN];
        HGC_UNROLL
        for (int i = 0; i < TM; i++)
          HGC_UNROLL
          for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;

        for (int64_t k0 = 0; k0 < p.k; k0 += BK) {
          for (int e = tid; e < BM * BK; e += THREADS) {
            // !trans_a: k contiguous in memory, so consecutive threads walk k; trans_a: they walk m.
            const int mm = kTransA ? e % BM : e / BK, kk = kTransA ? e / BM : e % BK;
            const int64_t gm = m0 + mm, gk = k0 + kk;
            float v = 0.0f;
            if (gm < p.m && gk < p.k) v = kTransA ? A[gk * p.lda + gm] : A[gm * p.lda + gk];
            as[kk * SA + mm] = v;
          }
          for (int e = tid; e < BN * BK; e += THREADS) {
            const int nn = kTransB ? e / BK : e % BN, kk = kTransB ? e % BK : e / BN;
            const int64_t gn = n0 + nn, gk = k0 + kk;
            float v = 0.0f;
            if (gn < p.n && gk < p.k) v = kTransB ? B[gn * p.ldb + gk] : B[gk * p.ldb + gn];
            bs[kk * SB + nn] = v;
          }
          __syncthreads();
          HGC_UNROLL
          for (int kk = 0; kk < BK; kk++) {
            float av[TM], bv[TN];
            HGC_UNROLL
            for (int i = 0; i < TM; i++) av[i] = as[kk * SA + ty + i * TY];
            HGC_UNROLL
            for (int j = 0; j < TN; j++) bv[j] = bs[kk * SB + tx + j * TX];
            HGC_UNROLL
            for (int i = 0; i < TM; i++)
              HGC_UNROLL
              for (int j = 0; j < TN; j++) acc[i][j] += av[i] * bv[j];
          }
          __syncthreads();  // the tiles are overwritten by the next k step
        }

        // Each element is read (residual) and written by one thread: a residual that is C itself is fine.
        float* C = p.c + z * p.stride_c;
        const float* R = p.residual ? p.residual + z * p.stride_res : nullptr;
        HGC_UNROLL
        for (int i = 0; i < TM; i++) {
          const int64_t row = m0 + ty + i * TY;
          if (row >= p.m) continue;
          HGC_UNROLL
          for (int j = 0; j < TN; j++) {
            const int64_t col = n0 + tx + j * TX;
            if (col >= p.n) continue;
            float v = acc[i][j];
            if (p.bias) v += p.bias[col];
            v = gemm_activation(v, p.act);
            if (R) v += R[row * p.ldc + col];
            C[row * p.ldc + col] = v;
          }
        }
      }
    }
  }
}

template <class Cfg>
void launch_f32(const F32Params& p, bool trans_a, bool trans_b) {
  const int64_t m_tiles = (p.m + Cfg::BM - 1) / Cfg::BM, n_tiles = (p.n + Cfg::BN - 1) / Cfg::BN;
  const dim3 grid(unsigned(n_tiles < 0x7fffffff ? n_tiles : 0x7fffffff), unsigned(m_tiles < 65535 ? m_tiles : 65535),
                  unsigned(p.batch < 65535 ? p.batch : 65535));
  const dim3 block(Cfg::THREADS);
  if (trans_a) {
    if (trans_b) launch("gemm (f32)", gemm_f32_kernel<Cfg, true, true>, grid, block, 0, nullptr, p);
    else launch("gemm (f32)", gemm_f32_kernel<Cfg, true, false>, grid, block, 0, nullptr, p);
  } else {
    if (trans_b) launch("gemm (f32)", gemm_f32_kernel<Cfg, false, true>, grid, block, 0, nullptr, p);
    else launch("gemm (f32)", gemm_f32_kernel<Cfg, false, false>, grid, block, 0, nullptr, p);
  }
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
  const F32Params p{g.a,   g.b,   g.c,   g.bias,   g.residual, g.batch,    g.m,        g.n,        g.k,
                    g.lda, g.ldb, g.ldc, g.stride_a, g.stride_b, g.stride_c, g.stride_residual, int(g.act)};
  // 128×128 tiles from a few hundred blocks on (about two per SM of an H100); 64×64 tiles below that.
  const int64_t big_blocks = ((g.m + 127) / 128) * ((g.n + 127) / 128) * g.batch;
  if (gemm_big_tiles(big_blocks >= 256))
    launch_f32<BigF32>(p, g.trans_a, g.trans_b);
  else
    launch_f32<SmallF32>(p, g.trans_a, g.trans_b);
}

}  // namespace hgc::cuda
