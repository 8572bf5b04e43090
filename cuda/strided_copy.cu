// Strided copy of the cuda backend: dst[Σ i_d·stride_dst[d]] = src[Σ i_d·stride_src[d]] over `shape`, for
// elements of any byte size (permute, slice, concat and split are all this copy). The host first rewrites
// the copy in bytes: size-1 dims are dropped, innermost dims that are contiguous on both sides are folded
// into one larger "chunk", and neighbouring dims that nest on both sides are merged. Each chunk then moves
// as words of the widest size (16, 8, 4, 2 or 1 bytes) that divides the chunk, every byte stride and both
// base addresses, so a slice or concat of contiguous rows becomes 16-byte copies. Permutes that move the
// contiguous dim take a tiled transpose instead (below).
#include "kernel_util.cuh"
#include "launch.cuh"
#include "strided_copy.cuh"

namespace hgc::cuda {
namespace {

constexpr int kThreads = 256;

struct CopyPlan {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t src[kMaxDims] = {};  // byte strides
  int64_t dst[kMaxDims] = {};
  int64_t chunk = 0;           // contiguous bytes per index of the remaining dims
};

// One thread per word: word w of the chunk at (outer index o) → source and destination byte offsets.
// Index is uint32_t when every word index and byte offset fits (64-bit division is slow on a GPU).
template <typename Word, typename Index>
__global__ void strided_copy_kernel(CopyPlan p, const char* src, char* dst, int64_t words) {
  const Index per_chunk = Index(p.chunk / int64_t(sizeof(Word)));
  for (int64_t w = global_thread(); w < words; w += grid_threads()) {
    Index o = Index(w) / per_chunk;
    const Index in_chunk = (Index(w) - o * per_chunk) * Index(sizeof(Word));
    Index os = in_chunk, od = in_chunk;
    for (int d = p.ndim - 1; d >= 0; d--) {
      const Index size = Index(p.shape[d]), idx = o % size;
      o /= size;
      os += idx * Index(p.src[d]);
      od += idx * Index(p.dst[d]);
    }
    *reinterpret_cast<Word*>(dst + od) = *reinterpret_cast<const Word*>(src + os);
  }
}

// A permute that moves the contiguous dim (a transpose of dims i and j inside a batch of other dims, e.g.
// NCHW ↔ tokens) goes through a 32×32 shared-memory tile so that both the reads (along j, contiguous in
// src) and the writes (along i, contiguous in dst) are coalesced. 256 threads: lane tx walks the contiguous
// dim, the 8 warps take every 8th line of the tile. The +1 column keeps the column reads free of bank conflicts.
struct TransposePlan {
  int nb = 0;                    // batch dims (all dims but i and j)
  int64_t bshape[kMaxDims] = {};
  int64_t bsrc[kMaxDims] = {};
  int64_t bdst[kMaxDims] = {};
  int64_t batches = 1, ni = 0, nj = 0;
  int64_t i_src = 0, j_dst = 0;  // the strided sides; i_dst = j_src = sizeof(Word)
};

constexpr int kTile = 32;

template <typename Word>
__global__ void transpose_kernel(TransposePlan p, const char* src, char* dst) {
  __shared__ Word tile[kTile][kTile + 1];
  const int tx = threadIdx.x % kTile, ty = threadIdx.x / kTile, rows_per_pass = blockDim.x / kTile;
  const int64_t tiles_i = (p.ni + kTile - 1) / kTile, tiles_j = (p.nj + kTile - 1) / kTile;
  const int64_t es = sizeof(Word);
  for (int64_t t = blockIdx.x; t < p.batches * tiles_i * tiles_j; t += gridDim.x) {  // uniform across the block
    int64_t rem = t / (tiles_i * tiles_j);
    const int64_t ti = (t % (tiles_i * tiles_j)) / tiles_j, tj = t % tiles_j;
    int64_t os = 0, od = 0;
    for (int d = p.nb - 1; d >= 0; d--) {
      const int64_t idx = rem % p.bshape[d];
      rem /= p.bshape[d];
      os += idx * p.bsrc[d];
      od += idx * p.bdst[d];
    }
    for (int k = ty; k < kTile; k += rows_per_pass) {
      const int64_t i = ti * kTile + k, j = tj * kTile + tx;
      if (i < p.ni && j < p.nj) tile[k][tx] = *reinterpret_cast<const Word*>(src + os + i * p.i_src + j * es);
    }
    __syncthreads();
    for (int k = ty; k < kTile; k += rows_per_pass) {
      const int64_t j = tj * kTile + k, i = ti * kTile + tx;
      if (i < p.ni && j < p.nj) *reinterpret_cast<Word*>(dst + od + i * es + j * p.j_dst) = tile[tx][k];
    }
    __syncthreads();  // the tile is refilled by the next iteration
  }
}

CopyPlan plan_copy(const StridedCopyArgs& a) {
  CopyPlan p;
  p.chunk = a.elem_size;
  for (int d = 0; d < a.ndim; d++) {
    if (a.shape[d] == 1) continue;
    p.shape[p.ndim] = a.shape[d];
    p.src[p.ndim] = a.stride_src[d] * a.elem_size;
    p.dst[p.ndim] = a.stride_dst[d] * a.elem_size;
    p.ndim++;
  }
  // Fold innermost dims that are contiguous on both sides into the chunk.
  while (p.ndim > 0 && p.src[p.ndim - 1] == p.chunk && p.dst[p.ndim - 1] == p.chunk) {
    p.chunk *= p.shape[p.ndim - 1];
    p.ndim--;
  }
  // Merge dim d+1 into d when d steps exactly over all of d+1 on both sides.
  int k = 0;
  for (int d = 1; d < p.ndim; d++) {
    if (p.src[k] == p.src[d] * p.shape[d] && p.dst[k] == p.dst[d] * p.shape[d]) {
      p.shape[k] *= p.shape[d];
      p.src[k] = p.src[d];
      p.dst[k] = p.dst[d];
    } else {
      k++;
      p.shape[k] = p.shape[d];
      p.src[k] = p.src[d];
      p.dst[k] = p.dst[d];
    }
  }
  if (p.ndim > 0) p.ndim = k + 1;
  return p;
}

// The widest word that divides the chunk, every stride and both addresses.
int64_t word_size(const CopyPlan& p, const void* src, const void* dst) {
  uint64_t bits = uint64_t(p.chunk) | reinterpret_cast<uintptr_t>(src) | reinterpret_cast<uintptr_t>(dst) | 16u;
  for (int d = 0; d < p.ndim; d++) bits |= uint64_t(p.src[d]) | uint64_t(p.dst[d]);
  return int64_t(bits & (~bits + 1));  // lowest set bit: the largest power of two dividing them all (≤ 16)
}

// Whether all byte offsets of the plan stay below 2^31 (strides are non-negative: slices only shrink).
bool fits_32bit(const CopyPlan& p, int64_t total_bytes) {
  int64_t max_src = p.chunk, max_dst = p.chunk;
  for (int d = 0; d < p.ndim; d++) {
    if (p.src[d] < 0 || p.dst[d] < 0) return false;
    max_src += (p.shape[d] - 1) * p.src[d];
    max_dst += (p.shape[d] - 1) * p.dst[d];
  }
  const int64_t limit = int64_t(1) << 31;
  return total_bytes < limit && max_src < limit && max_dst < limit;
}

template <typename Word>
void copy_words(const CopyPlan& p, const void* src, void* dst, int64_t total_bytes) {
  const int64_t words = total_bytes / int64_t(sizeof(Word));
  const dim3 grid(grid_stride_blocks(words, kThreads)), block(kThreads);
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  if (fits_32bit(p, total_bytes))
    launch("strided_copy", strided_copy_kernel<Word, uint32_t>, grid, block, 0, nullptr, p, s, d, words);
  else
    launch("strided_copy", strided_copy_kernel<Word, int64_t>, grid, block, 0, nullptr, p, s, d, words);
}

// The transpose form of a plan, when its innermost dim i is contiguous only in dst and another dim j is
// contiguous in src, the element (chunk) is 2, 4 or 8 bytes and everything is aligned to it.
bool plan_transpose(const CopyPlan& p, int64_t word, TransposePlan& t) {
  const int i = p.ndim - 1;
  if (i < 1 || (p.chunk != 2 && p.chunk != 4 && p.chunk != 8) || word < p.chunk || p.dst[i] != p.chunk) return false;
  int j = -1;
  for (int d = 0; d < i; d++)
    if (p.src[d] == p.chunk) j = d;
  if (j < 0) return false;
  for (int d = 0; d < i; d++) {
    if (d == j) continue;
    t.bshape[t.nb] = p.shape[d];
    t.bsrc[t.nb] = p.src[d];
    t.bdst[t.nb] = p.dst[d];
    t.batches *= p.shape[d];
    t.nb++;
  }
  t.ni = p.shape[i];
  t.nj = p.shape[j];
  t.i_src = p.src[i];
  t.j_dst = p.dst[j];
  return true;
}

template <typename Word>
void transpose_words(const TransposePlan& t, const void* src, void* dst) {
  const int64_t tiles = t.batches * ((t.ni + kTile - 1) / kTile) * ((t.nj + kTile - 1) / kTile);
  launch("strided_copy", transpose_kernel<Word>, dim3(grid_stride_blocks(tiles, 1, 65535)), dim3(kThreads), 0, nullptr,
         t, static_cast<const char*>(src), static_cast<char*>(dst));
}

}  // namespace

void strided_copy(const StridedCopyArgs& a) {
  int64_t n = 1;
  for (int d = 0; d < a.ndim; d++) n *= a.shape[d];
  if (n == 0 || a.elem_size <= 0) return;
  const CopyPlan p = plan_copy(a);
  const int64_t total = n * a.elem_size;
  const int64_t word = word_size(p, a.src, a.dst);
  TransposePlan t;
  if (plan_transpose(p, word, t)) {
    if (p.chunk == 2) transpose_words<uint16_t>(t, a.src, a.dst);
    else if (p.chunk == 4) transpose_words<uint32_t>(t, a.src, a.dst);
    else transpose_words<Pack<uint32_t, 2>>(t, a.src, a.dst);
    return;
  }
  switch (word) {
    case 16: copy_words<Pack<uint32_t, 4>>(p, a.src, a.dst, total); break;
    case 8: copy_words<Pack<uint32_t, 2>>(p, a.src, a.dst, total); break;
    case 4: copy_words<uint32_t>(p, a.src, a.dst, total); break;
    case 2: copy_words<uint16_t>(p, a.src, a.dst, total); break;
    default: copy_words<uint8_t>(p, a.src, a.dst, total); break;
  }
}

}  // namespace hgc::cuda
