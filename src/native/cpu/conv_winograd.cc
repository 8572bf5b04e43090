// 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3): each 2×2 output tile is
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// with d the tile's 4×4 input patch and g the 3×3 kernel, so the channel sums become 16 independent GEMMs
//   M_ξ[cout, tiles] = U_ξ[cout, cin] · V_ξ[cin, tiles]      (ξ = one of the 4×4 transformed positions)
// with 16 multiplies per tile and channel pair instead of 36: 2.25× fewer MACs than direct convolution.
//
// Work order, per block of tile rows (one block unless the scratch would pass kBlockBytes):
//   1. input transform, parallel over input channels, writing V in the GEMM microkernel's 16-column sliver
//      layout ([ξ][sliver][cin][16]), so the GEMM reads it in place;
//   2. parallel over tasks of `mb` output channels: transform the task's weights into U, already in the
//      microkernel's 6-row sliver layout; run the 16 GEMMs into the task's M; apply the output transform,
//      bias and residual while M is still in cache. Each thread owns its U and M, so U never goes to
//      memory in full, and no operand is packed.
// Rounding: the transforms add a few ulps per tile (sums of up to 9 terms), well inside f32 accuracy.
// Non-finite inputs: the transforms only add and subtract the terms with nonzero coefficients, so a NaN
// reaches exactly the outputs whose 3×3 window covers it, as in direct convolution; an infinity stays in
// that window too but may come out as NaN there (∞ − ∞ inside the transforms).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "conv_paths.h"
#include "gemm_driver.h"
#include "thread_pool.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(HGC_GEMM_PORTABLE_ONLY)
#define HGC_WINO_X86 1
#include <immintrin.h>
#define HGC_AVX2 __attribute__((target("avx2,fma")))
#else
#define HGC_WINO_X86 0
#endif

namespace hgc::cpu {

namespace {

using detail::kMicroCols;
using detail::kMicroRows;

constexpr int64_t kXi = 16;                   // transformed positions per tile
constexpr int64_t kBlockBytes = 48ll << 20;   // V + every thread's M for one block of tile rows
constexpr int64_t kTaskRows = 120;            // nominal output channels per task (the GEMM's L2 block)
constexpr int64_t kKc = 384;                  // channels per GEMM k step: a 16-column B sliver stays in L1
// The GEMM saves ~20 multiply-adds per tile and channel pair (∝ cin·cout) while the input and output
// transforms cost per tile and channel (∝ cin + cout): below cin·cout / (cin + cout) = 24 (e.g. 32 → 32
// channels) the direct kernel is faster on this machine's measurements.
constexpr int64_t kMinChannelRatio = 24;
// The weight transform costs about as much as ~25 tiles' worth of GEMM per channel pair; with fewer tiles
// (e.g. one 8×8 image) the direct kernel is faster.
constexpr int64_t kMinTiles = 32;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The tile grid and blocking of one convolution: everything the scratch layout depends on.
struct Plan {
  int64_t th = 0, tw = 0;        // tile grid of one image
  int64_t tile_rows = 0;         // n * th, over all images
  int64_t rows_per_block = 0;    // tile rows per block
  int64_t slivers = 0;           // 16-tile slivers in the largest block
  int64_t mb = 0;                // output channels per task (a multiple of kMicroRows)
  int64_t v_floats = 0;          // V: kXi × slivers × cin × 16
  int64_t u_floats = 0;          // one thread's U: kXi × mb × cin
  int64_t m_floats = 0;          // one thread's M: kXi × mb × slivers × 16
  int64_t temp_floats = 0;       // one thread's row buffers for the transforms
  int64_t slot_floats = 0;       // one thread's share, 64-byte multiple
  int slots = 0;                 // threads
};

Plan make_plan(const Conv2dSizes& s) {
  Plan p;
  p.th = (s.oh + 1) / 2;
  p.tw = (s.ow + 1) / 2;
  p.tile_rows = s.n * p.th;
  p.slots = std::max(1, num_threads());
  // A multiple of the thread count, so that the tasks split evenly.
  const int64_t tasks = round_up(std::max<int64_t>(p.slots, ceil_div(s.cout, kTaskRows)), p.slots);
  p.mb = round_up(ceil_div(s.cout, tasks), kMicroRows);
  const int64_t bytes_per_row = 4 * kXi * p.tw * (s.cin + int64_t(p.slots) * p.mb);
  p.rows_per_block = std::clamp<int64_t>(kBlockBytes / std::max<int64_t>(bytes_per_row, 1), 1, p.tile_rows);
  p.slivers = ceil_div(p.rows_per_block * p.tw, kMicroCols);
  p.v_floats = kXi * p.slivers * s.cin * kMicroCols;
  p.u_floats = kXi * p.mb * s.cin;
  p.m_floats = kXi * p.mb * p.slivers * kMicroCols;
  // Transform buffers, reused by the three transforms in turn: input = even/odd halves of a segment's
  // padded rows, their 8 row combinations and the 16 values of each tile; output = 4 values per tile;
  // weights = the tap-major gather of a 6-row group (9 × 6 × cin).
  const int64_t ns = round_up(p.tw + 1, 8), seg_tiles = round_up(p.rows_per_block * p.tw, 8);
  const int64_t input = 2 * (2 * p.rows_per_block + 2) * ns + 8 * ns + kXi * seg_tiles;
  p.temp_floats = std::max({input, 4 * seg_tiles, 9 * kMicroRows * s.cin});
  p.slot_floats = round_up(p.u_floats + p.m_floats + p.temp_floats, 16);
  return p;
}

// ---------------------------------------------------------------------------------------------------
// Transforms. Each is written once as an always-inline body and compiled twice (AVX2+FMA and baseline),
// chosen at run time like the GEMM's kernels.

// (G g Gᵀ) for kernels [f0, len) given tap-major (taps[k·len + f] = tap k of kernel f): u[ξ·xi_stride + f].
__attribute__((always_inline)) inline void weights_group_tail(const float* __restrict taps, int64_t f0,
                                                              int64_t len, float* __restrict u,
                                                              int64_t xi_stride) {
  for (int64_t f = f0; f < len; f++) {
    float t[4][3];  // G g, column by column (g rows: taps 0-2, 3-5, 6-8)
    for (int c = 0; c < 3; c++) {
      const float g0 = taps[c * len + f], g1 = taps[(3 + c) * len + f], g2 = taps[(6 + c) * len + f];
      t[0][c] = g0;
      t[1][c] = 0.5f * (g0 + g1 + g2);
      t[2][c] = 0.5f * (g0 - g1 + g2);
      t[3][c] = g2;
    }
    for (int i = 0; i < 4; i++) {  // (G g) Gᵀ
      u[(i * 4 + 0) * xi_stride + f] = t[i][0];
      u[(i * 4 + 1) * xi_stride + f] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
      u[(i * 4 + 2) * xi_stride + f] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
      u[(i * 4 + 3) * xi_stride + f] = t[i][2];
    }
  }
}

void weights_group_generic(const float* taps, int64_t len, float* u, int64_t xi_stride) {
  weights_group_tail(taps, 0, len, u, xi_stride);
}

#if HGC_WINO_X86
// The same arithmetic, 8 kernels at a time (GCC does not vectorise the 16 output streams by itself).
HGC_AVX2 inline void g_column(__m256 x0, __m256 x1, __m256 x2, __m256* t) {  // G applied to one column
  const __m256 half = _mm256_set1_ps(0.5f);
  t[0] = x0;
  t[1] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(x0, x1), x2));
  t[2] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(x0, x1), x2));
  t[3] = x2;
}

HGC_AVX2 void weights_group_avx2(const float* taps, int64_t len, float* u, int64_t xi_stride) {
  int64_t f = 0;
  for (; f + 8 <= len; f += 8) {
    __m256 t[3][4];  // t[c][i] = (G g)[i][c]
    for (int c = 0; c < 3; c++)
      g_column(_mm256_loadu_ps(taps + c * len + f), _mm256_loadu_ps(taps + (3 + c) * len + f),
          _mm256_loadu_ps(taps + (6 + c) * len + f), t[c]);
    for (int i = 0; i < 4; i++) {
      __m256 r[4];
      g_column(t[0][i], t[1][i], t[2][i], r);
      for (int j = 0; j < 4; j++) _mm256_storeu_ps(u + (i * 4 + j) * xi_stride + f, r[j]);
    }
  }
  weights_group_tail(taps, f, len, u, xi_stride);
}
#endif

// U for rows [m0, m0 + mb) of one task (rows past cout are zero):
//   u[((ξ·groups + r/6)·cin + ci)·6 + r%6] = (G g Gᵀ)[ξ],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
// Per 6-row group, the 9 taps are first gathered into tap-major rows taps[k][ci·6 + r] (temp, 54·cin
// floats), so that the transform itself runs over consecutive floats in and out.
template <void (*kGroup)(const float*, int64_t, float*, int64_t)>
__attribute__((always_inline)) inline void weights_body(const float* w, int64_t cin, int64_t cout, int64_t m0,
                                                        int64_t mb, float* u, float* temp) {
  const int64_t groups = mb / kMicroRows, len = cin * kMicroRows, xi_stride = groups * len;
  for (int64_t g = 0; g < groups; g++) {
    for (int64_t r = 0; r < kMicroRows; r++) {
      const int64_t row = m0 + g * kMicroRows + r;
      if (row >= cout) {
        for (int k = 0; k < 9; k++)
          for (int64_t ci = 0; ci < cin; ci++) temp[k * len + ci * kMicroRows + r] = 0.0f;
        continue;
      }
      const float* src = w + row * cin * 9;
      for (int64_t ci = 0; ci < cin; ci++)
        for (int k = 0; k < 9; k++) temp[k * len + ci * kMicroRows + r] = src[ci * 9 + k];
    }
    kGroup(temp, len, u + g * len, xi_stride);
  }
}

// Input transform of tile rows [ty0, ty1) of one channel plane (all tw tiles of each row), k = the tile's
// index in that range (ty − ty0)·tw + tx:
//   vt[ξ·ld + k] = (Bᵀ d B)[ξ],  Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],
// d = the 4×4 patch at padded rows 2ty.., padded columns 2tx.. (padded = input shifted by `pad`, zeros
// outside). Every padded row is built once, split into even and odd columns (ev[j] = padded[2j],
// od[j] = padded[2j + 1], j ≤ tw), so tile tx reads index tx and tx + 1 of each and every loop runs over
// consecutive floats.
__attribute__((always_inline)) inline void input_body(const float* plane, int64_t h, int64_t w, int64_t pad,
                                                      int64_t ty0, int64_t ty1, int64_t tw, float* temp,
                                                      float* vt, int64_t ld) {
  const int64_t n = tw + 1, ns = round_up(n, 8), rows = 2 * (ty1 - ty0) + 2;
  float* ev = temp;                 // [rows][ns]
  float* od = temp + rows * ns;     // [rows][ns]
  float* comb = od + rows * ns;     // [4 combinations][even, odd][ns]
  // Source column c lands in padded column c + pad: even source columns go to ev (pad even) or od (pad odd).
  const int64_t q = pad / 2;
  const bool odd_pad = pad & 1;
  const int64_t pairs = w / 2;
  for (int64_t r = 0; r < rows; r++) {
    float* __restrict e = ev + r * ns;
    float* __restrict o = od + r * ns;
    for (int64_t j = 0; j < n; j++) e[j] = o[j] = 0.0f;
    const int64_t iy = 2 * ty0 + r - pad;
    if (iy < 0 || iy >= h) continue;
    const float* __restrict src = plane + iy * w;
    float* __restrict to_even = odd_pad ? o + q : e + q;       // source 2i     → padded 2i + pad
    float* __restrict to_odd = odd_pad ? e + q + 1 : o + q;    // source 2i + 1 → padded 2i + 1 + pad
    for (int64_t i = 0; i < pairs; i++) {
      to_even[i] = src[2 * i];
      to_odd[i] = src[2 * i + 1];
    }
    if (w & 1) to_even[pairs] = src[w - 1];
  }
  for (int64_t ty = ty0; ty < ty1; ty++) {
    const int64_t r = 2 * (ty - ty0);
    for (int par = 0; par < 2; par++) {  // Bᵀ d on rows, for even and odd columns alike
      const float* base = par ? od : ev;
      const float* __restrict r0 = base + r * ns;
      const float* __restrict r1 = r0 + ns;
      const float* __restrict r2 = r1 + ns;
      const float* __restrict r3 = r2 + ns;
      float* __restrict c0 = comb + (0 + par) * ns;
      float* __restrict c1 = comb + (2 + par) * ns;
      float* __restrict c2 = comb + (4 + par) * ns;
      float* __restrict c3 = comb + (6 + par) * ns;
      for (int64_t j = 0; j < n; j++) {
        c0[j] = r0[j] - r2[j];
        c1[j] = r1[j] + r2[j];
        c2[j] = r2[j] - r1[j];
        c3[j] = r1[j] - r3[j];
      }
    }
    const int64_t k0 = (ty - ty0) * tw;
    for (int i = 0; i < 4; i++) {  // · B on columns: tile tx uses columns 2tx .. 2tx + 3
      const float* __restrict e = comb + (2 * i) * ns;
      const float* __restrict o = comb + (2 * i + 1) * ns;
      float* __restrict v0 = vt + (i * 4 + 0) * ld + k0;
      float* __restrict v1 = vt + (i * 4 + 1) * ld + k0;
      float* __restrict v2 = vt + (i * 4 + 2) * ld + k0;
      float* __restrict v3 = vt + (i * 4 + 3) * ld + k0;
      for (int64_t tx = 0; tx < tw; tx++) {
        v0[tx] = e[tx] - e[tx + 1];
        v1[tx] = o[tx] + e[tx + 1];
        v2[tx] = e[tx + 1] - o[tx];
        v3[tx] = o[tx] - o[tx + 1];
      }
    }
  }
}

// Output transform of `tiles` consecutive tiles of one output channel, Y = Aᵀ M A with
// Aᵀ = [1 1 1 0; 0 1 −1 −1]: m[ξ·ld + k] → the 2×2 outputs of tile k, plus bias, into four arrays
// (top-left, top-right, bottom-left, bottom-right) of `ts` floats each in temp.
__attribute__((always_inline)) inline void output_body(const float* m, int64_t ld, int64_t tiles, float bias,
                                                       float* temp, int64_t ts) {
  float* __restrict o00 = temp;
  float* __restrict o01 = temp + ts;
  float* __restrict o10 = temp + 2 * ts;
  float* __restrict o11 = temp + 3 * ts;
  for (int64_t k = 0; k < tiles; k++) {
    float s0[4], s1[4];
    for (int l = 0; l < 4; l++) {
      const float a0 = m[(0 + l) * ld + k], a1 = m[(4 + l) * ld + k];
      const float a2 = m[(8 + l) * ld + k], a3 = m[(12 + l) * ld + k];
      s0[l] = a0 + a1 + a2;
      s1[l] = a1 - a2 - a3;
    }
    o00[k] = s0[0] + s0[1] + s0[2] + bias;
    o01[k] = s0[1] - s0[2] - s0[3] + bias;
    o10[k] = s1[0] + s1[1] + s1[2] + bias;
    o11[k] = s1[1] - s1[2] - s1[3] + bias;
  }
}

// Interleaves one output row from a tile row's left and right outputs (+ residual): y[2tx] = e[tx],
// y[2tx + 1] = o[tx], for the ow columns of the row.
__attribute__((always_inline)) inline void store_row(float* __restrict y, const float* __restrict res,
                                                     const float* __restrict e, const float* __restrict o,
                                                     int64_t ow) {
  const int64_t pairs = ow / 2;
  if (res) {
    for (int64_t tx = 0; tx < pairs; tx++) {
      y[2 * tx] = e[tx] + res[2 * tx];
      y[2 * tx + 1] = o[tx] + res[2 * tx + 1];
    }
    if (ow & 1) y[ow - 1] = e[pairs] + res[ow - 1];
  } else {
    for (int64_t tx = 0; tx < pairs; tx++) {
      y[2 * tx] = e[tx];
      y[2 * tx + 1] = o[tx];
    }
    if (ow & 1) y[ow - 1] = e[pairs];
  }
}

void weights_generic(const float* w, int64_t cin, int64_t cout, int64_t m0, int64_t mb, float* u, float* temp) {
  weights_body<weights_group_generic>(w, cin, cout, m0, mb, u, temp);
}
void input_generic(const float* plane, int64_t h, int64_t w, int64_t pad, int64_t ty0, int64_t ty1, int64_t tw,
                   float* temp, float* vt, int64_t ld) {
  input_body(plane, h, w, pad, ty0, ty1, tw, temp, vt, ld);
}
void output_generic(const float* m, int64_t ld, int64_t tiles, float bias, float* temp, int64_t ts) {
  output_body(m, ld, tiles, bias, temp, ts);
}
void store_generic(float* y, const float* res, const float* e, const float* o, int64_t ow) {
  store_row(y, res, e, o, ow);
}
#if HGC_WINO_X86
HGC_AVX2 void weights_avx2(const float* w, int64_t cin, int64_t cout, int64_t m0, int64_t mb, float* u,
                           float* temp) {
  weights_body<weights_group_avx2>(w, cin, cout, m0, mb, u, temp);
}
HGC_AVX2 void input_avx2(const float* plane, int64_t h, int64_t w, int64_t pad, int64_t ty0, int64_t ty1,
                         int64_t tw, float* temp, float* vt, int64_t ld) {
  input_body(plane, h, w, pad, ty0, ty1, tw, temp, vt, ld);
}
HGC_AVX2 void output_avx2(const float* m, int64_t ld, int64_t tiles, float bias, float* temp, int64_t ts) {
  output_body(m, ld, tiles, bias, temp, ts);
}
HGC_AVX2 void store_avx2(float* y, const float* res, const float* e, const float* o, int64_t ow) {
  store_row(y, res, e, o, ow);
}
#endif

struct Transforms {
  decltype(&weights_generic) weights;
  decltype(&input_generic) input;
  decltype(&output_generic) output;
  decltype(&store_generic) store;
};

const Transforms& transforms() {
  static const Transforms t = [] {
#if HGC_WINO_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return Transforms{weights_avx2, input_avx2, output_avx2, store_avx2};
#endif
    return Transforms{weights_generic, input_generic, output_generic, store_generic};
  }();
  return t;
}

// ---------------------------------------------------------------------------------------------------

// Runs body(slot, item) for items [0, n) on every thread; `slot` is unique among the concurrently running
// calls (it indexes the per-thread scratch), and items are handed out one at a time.
template <typename F>
void for_each_item(int slots, int64_t n, const F& body) {
  std::atomic<int64_t> next{0};
  parallel_for(slots, 1, [&](int64_t s0, int64_t) {
    for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) body(int(s0), i);
  });
}

}  // namespace

// HGC_CONV_WINOGRAD=0 turns the path off (to compare against the direct kernel); read once.
bool winograd_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("HGC_CONV_WINOGRAD");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

bool winograd_applies(const Conv2dSizes& s) {
  if (!winograd_enabled() || s.kh != 3 || s.kw != 3 || s.stride != 1 || s.norm_groups != 0) return false;
  if (s.n <= 0 || s.cin <= 0 || s.cout <= 0 || s.oh != s.h + 2 * s.pad - 2 || s.ow != s.w + 2 * s.pad - 2) return false;
  return s.cin * s.cout >= kMinChannelRatio * (s.cin + s.cout) && s.n * ((s.oh + 1) / 2) * ((s.ow + 1) / 2) >= kMinTiles;
}

int64_t winograd_scratch_bytes(const Conv2dSizes& s) {
  if (!winograd_applies(s)) return 0;
  const Plan p = make_plan(s);
  return int64_t(sizeof(float)) * (p.v_floats + int64_t(p.slots) * p.slot_floats) + 64;
}

void conv3x3_winograd(const Conv2dArgs& a) {
  const Plan p = make_plan(a);
  const Transforms& T = transforms();
  const detail::MicroKernelFn ukr = detail::microkernel();
  float* base = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(a.scratch) + 63) & ~uintptr_t(63));
  float* v = base;
  auto slot_mem = [&](int slot) { return base + p.v_floats + int64_t(slot) * p.slot_floats; };
  const int64_t cin = a.cin, groups = p.mb / kMicroRows, tasks = ceil_div(a.cout, p.mb);
  const int64_t ldm = p.slivers * kMicroCols;  // M's row length (tiles, padded to whole slivers)
  const int64_t v_xi = p.slivers * cin * kMicroCols, u_xi = groups * cin * kMicroRows, m_xi = p.mb * ldm;
  const int64_t plane_in = a.h * a.w, plane_out = a.oh * a.ow;

  const int64_t seg_ld = round_up(p.rows_per_block * p.tw, 8);  // tiles of the largest segment
  for (int64_t gr0 = 0; gr0 < p.tile_rows; gr0 += p.rows_per_block) {
    const int64_t gr1 = std::min(p.tile_rows, gr0 + p.rows_per_block);
    const int64_t tiles = (gr1 - gr0) * p.tw, slivers = ceil_div(tiles, kMicroCols);
    // The block's tile rows, cut at image boundaries: segment = (image, tile rows [ty0, ty1), first tile).
    struct Segment {
      int64_t img, ty0, ty1, k0;
    };
    std::vector<Segment> segs;
    for (int64_t img = gr0 / p.th; img * p.th < gr1; img++) {
      const int64_t lo = std::max(gr0, img * p.th), hi = std::min(gr1, (img + 1) * p.th);
      segs.push_back({img, lo - img * p.th, hi - img * p.th, (lo - gr0) * p.tw});
    }
    const int64_t nseg = int64_t(segs.size());

    // 1. V for every input channel and segment.
    for_each_item(p.slots, cin * nseg, [&](int slot, int64_t item) {
      const int64_t ci = item / nseg;
      const Segment& sg = segs[size_t(item % nseg)];
      float* temp = slot_mem(slot) + p.u_floats + p.m_floats;
      float* vt = temp + (p.temp_floats - kXi * seg_ld);
      T.input(a.x + (sg.img * cin + ci) * plane_in, a.h, a.w, a.pad, sg.ty0, sg.ty1, p.tw, temp, vt, seg_ld);
      // Scatter the tiles into their slivers: runs of consecutive lanes, 16 at a time inside the segment.
      const int64_t cnt = (sg.ty1 - sg.ty0) * p.tw;
      for (int64_t xi = 0; xi < kXi; xi++) {
        float* vx = v + xi * v_xi + ci * kMicroCols;
        const float* __restrict src = vt + xi * seg_ld;
        for (int64_t k = 0; k < cnt;) {
          const int64_t t = sg.k0 + k, lane = t % kMicroCols, run = std::min(cnt - k, kMicroCols - lane);
          float* __restrict dst = vx + (t / kMicroCols) * cin * kMicroCols + lane;
          for (int64_t j = 0; j < run; j++) dst[j] = src[k + j];
          k += run;
        }
      }
      const int64_t used = tiles % kMicroCols;
      if (used && item % nseg == nseg - 1) {  // the last sliver's unused lanes are read: zero them
        for (int64_t xi = 0; xi < kXi; xi++)
          std::memset(v + xi * v_xi + ((slivers - 1) * cin + ci) * kMicroCols + used, 0,
                      sizeof(float) * (kMicroCols - used));
      }
    });

    // 2. Per task of output channels: U, the 16 GEMMs into M, then the output transform.
    for_each_item(p.slots, tasks, [&](int slot, int64_t task) {
      float* u = slot_mem(slot);
      float* m = u + p.u_floats;
      float* temp = m + p.m_floats;
      const int64_t m0 = task * p.mb, rows = std::min(p.mb, a.cout - m0);
      const int64_t used_groups = ceil_div(rows, kMicroRows);
      T.weights(a.weight, cin, a.cout, m0, p.mb, u, temp);
      for (int64_t xi = 0; xi < kXi; xi++) {
        const float* ux = u + xi * u_xi;
        const float* vx = v + xi * v_xi;
        float* mx = m + xi * m_xi;
        for (int64_t k0 = 0; k0 < cin; k0 += kKc) {
          const int64_t kc = std::min(kKc, cin - k0);
          for (int64_t s = 0; s < slivers; s++) {
            const float* bs = vx + (s * cin + k0) * kMicroCols;
            for (int64_t g = 0; g < used_groups; g++)
              ukr(kc, ux + (g * cin + k0) * kMicroRows, bs, mx + g * kMicroRows * ldm + s * kMicroCols, ldm, k0 > 0);
          }
        }
      }
      for (int64_t r = 0; r < rows; r++) {
        const int64_t co = m0 + r;
        const float bias = a.bias ? a.bias[co] : 0.0f;
        for (const Segment& sg : segs) {
          T.output(m + r * ldm + sg.k0, m_xi, (sg.ty1 - sg.ty0) * p.tw, bias, temp, seg_ld);
          for (int64_t ty = sg.ty0; ty < sg.ty1; ty++) {
            const int64_t k = (ty - sg.ty0) * p.tw, oy = 2 * ty;
            const int64_t out = (sg.img * a.cout + co) * plane_out + oy * a.ow;
            const float* res = a.residual ? a.residual + out : nullptr;
            T.store(a.y + out, res, temp + k, temp + seg_ld + k, a.ow);
            if (oy + 1 < a.oh)
              T.store(a.y + out + a.ow, res ? res + a.ow : nullptr, temp + 2 * seg_ld + k, temp + 3 * seg_ld + k, a.ow);
          }
        }
      }
    });
  }
}

}  // namespace hgc::cpu
