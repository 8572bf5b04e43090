// Warp collectives and cp.async of the simulator (see warp.h and the layouts in cuda/prims.cuh).
#include "warp.h"

#include <cstring>
#include <string>

#include "block_runner.h"
#include "half.h"

namespace hgc::sim {

namespace {

WarpArrival& arrive(WarpOp op, unsigned mask) {
  WarpArrival& w = BlockRunner::of_this_thread().self().warp;
  w.op = op;
  w.mask = mask;
  return w;
}

float to_float(MmaType type, uint16_t h) {
  return type == MmaType::F16 ? f16_to_f32(h) : f32_from_bits(uint32_t(h) << 16);
}
uint16_t half_of(uint32_t reg, int hi) { return static_cast<uint16_t>(hi ? reg >> 16 : reg & 0xffffu); }

}  // namespace

void sync_warp(unsigned mask) {
  arrive(WarpOp::SyncWarp, mask);
  BlockRunner::of_this_thread().wait_for_warp();
}

uint32_t shuffle_bits(ShflMode mode, unsigned mask, uint32_t v, int b, int width) {
  WarpArrival& w = arrive(WarpOp::Shuffle, mask);
  w.mode = mode;
  w.b = b;
  w.width = width;
  w.in[0] = v;
  BlockRunner::of_this_thread().wait_for_warp();
  return w.out[0];
}

unsigned ballot(unsigned mask, bool pred) {
  WarpArrival& w = arrive(WarpOp::Ballot, mask);
  w.in[0] = pred ? 1u : 0u;
  BlockRunner::of_this_thread().wait_for_warp();
  return w.out[0];
}

void mma_m16n8k16(MmaType type, float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  WarpArrival& w = arrive(WarpOp::Mma, 0xffffffffu);
  w.mma_type = type;
  for (int i = 0; i < 4; i++) w.in[i] = a[i];
  for (int i = 0; i < 2; i++) w.in[4 + i] = b[i];
  for (int i = 0; i < 4; i++) w.in[6 + i] = f32_bits(c[i]);
  BlockRunner::of_this_thread().wait_for_warp();
  for (int i = 0; i < 4; i++) d[i] = f32_from_bits(w.out[i]);
}

void ldmatrix(int count, bool trans, uint32_t* r, const void* smem_row) {
  WarpArrival& w = arrive(WarpOp::Ldmatrix, 0xffffffffu);
  w.count = count;
  w.trans = trans;
  w.ptr = smem_row;
  BlockRunner::of_this_thread().wait_for_warp();
  for (int i = 0; i < count; i++) r[i] = w.out[i];
}

// Computes the results of a completed collective for every lane of the mask (on the runner's stack).
void BlockRunner::execute_collective(unsigned base, unsigned lanes, const SimThread& first) {
  const WarpArrival& op = first.warp;
  const unsigned mask = op.mask;
  auto lane = [&](unsigned j) -> WarpArrival& { return threads_[base + j].warp; };
  switch (op.op) {
    case WarpOp::SyncWarp:
      return;
    case WarpOp::Ballot: {
      unsigned bits = 0;
      for (unsigned j = 0; j < lanes; j++)
        if ((mask >> j & 1u) && lane(j).in[0]) bits |= 1u << j;
      for (unsigned j = 0; j < lanes; j++)
        if (mask >> j & 1u) lane(j).out[0] = bits;
      return;
    }
    case WarpOp::Shuffle: {
      const int width = op.width;
      if (width < 1 || width > 32 || (width & (width - 1)) != 0)
        block_error("shuffle width " + std::to_string(width) + " is not a power of two in 1..32");
      // PTX shfl.sync with CUDA's clamp operand: segments of `width` lanes; up reads from lane - b unless
      // that leaves the segment; down/xor read lane + b / lane ^ b unless that is past the segment's end;
      // idx reads lane b of the caller's segment. Otherwise the lane keeps its own value.
      const unsigned segmask = 32u - unsigned(width);
      for (unsigned i = 0; i < lanes; i++) {
        if (!(mask >> i & 1u)) continue;
        WarpArrival& me = lane(i);
        const unsigned bval = unsigned(me.b) & 31u;
        const unsigned min_lane = i & segmask;
        const unsigned max_lane = min_lane | (31u & ~segmask);
        int j;
        bool ok;
        switch (op.mode) {
          case ShflMode::up: j = int(i) - int(bval); ok = j >= int(min_lane); break;
          case ShflMode::down: j = int(i + bval); ok = j <= int(max_lane); break;
          case ShflMode::xor_: j = int(i ^ bval); ok = j <= int(max_lane); break;
          default: j = int(min_lane | (bval & ~segmask)); ok = j <= int(max_lane); break;
        }
        if (!ok || unsigned(j) == i) {
          me.out[0] = me.in[0];
          continue;
        }
        if (unsigned(j) >= lanes || !(mask >> j & 1u))
          block_error(std::string("shuffle: lane ") + std::to_string(i) + " of warp " + std::to_string(base / 32) +
                      " reads lane " + std::to_string(j) + ", which is not in the mask (undefined on the GPU)");
        me.out[0] = lane(unsigned(j)).in[0];
      }
      return;
    }
    case WarpOp::Mma: {
      // Gather A (16×16), B (16×8 as k×n) and C (16×8) with the layouts of prims.cuh, compute, scatter D.
      float A[16][16], B[16][8], C[16][8];
      for (unsigned l = 0; l < 32; l++) {
        const WarpArrival& w = lane(l);
        const unsigned g = l / 4, t = l % 4;
        for (int r = 0; r < 4; r++)
          for (int h = 0; h < 2; h++) {
            unsigned row = g + (r & 1) * 8, col = 2 * t + h + (r >> 1) * 8;
            A[row][col] = to_float(op.mma_type, half_of(w.in[r], h));
          }
        for (int r = 0; r < 2; r++)
          for (int h = 0; h < 2; h++) B[2 * t + h + r * 8][g] = to_float(op.mma_type, half_of(w.in[4 + r], h));
        for (int i = 0; i < 4; i++) C[g + (i >> 1) * 8][2 * t + (i & 1)] = f32_from_bits(w.in[6 + i]);
      }
      for (unsigned l = 0; l < 32; l++) {
        const unsigned g = l / 4, t = l % 4;
        for (int i = 0; i < 4; i++) {
          unsigned row = g + (i >> 1) * 8, col = 2 * t + (i & 1);
          float acc = C[row][col];
          for (int k = 0; k < 16; k++) acc += A[row][k] * B[k][col];
          lane(l).out[i] = f32_bits(acc);
        }
      }
      return;
    }
    case WarpOp::Ldmatrix: {
      // Row addresses come from lanes 8i..8i+7 for matrix i; lane L receives row L/4, columns 2(L%4)+{0,1}
      // (or, transposed, rows 2(L%4)+{0,1} of column L/4).
      uint16_t M[4][8][8];
      for (int m = 0; m < op.count; m++)
        for (int r = 0; r < 8; r++) {
          const void* p = lane(unsigned(m * 8 + r)).ptr;
          if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
            block_error("ldmatrix: lane " + std::to_string(m * 8 + r) + " of warp " + std::to_string(base / 32) +
                        " passes a row address that is not 16-byte aligned");
          if (!in_shared_memory(p, 16))
            block_error("ldmatrix: lane " + std::to_string(m * 8 + r) + " of warp " + std::to_string(base / 32) +
                        " passes a row address outside the block's shared memory");
          std::memcpy(M[m][r], p, 16);
        }
      for (unsigned l = 0; l < 32; l++) {
        const unsigned g = l / 4, t = l % 4;
        for (int m = 0; m < op.count; m++) {
          uint16_t lo = op.trans ? M[m][2 * t][g] : M[m][g][2 * t];
          uint16_t hi = op.trans ? M[m][2 * t + 1][g] : M[m][g][2 * t + 1];
          lane(l).out[m] = uint32_t(lo) | (uint32_t(hi) << 16);
        }
      }
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// cp.async: per-thread queue; a wait applies the copies of the groups it covers, in issue order.

void cp_async(void* smem, const void* gmem, int bytes, bool valid) {
  BlockRunner& r = BlockRunner::of_this_thread();
  if (reinterpret_cast<uintptr_t>(smem) % unsigned(bytes) != 0 || (valid && reinterpret_cast<uintptr_t>(gmem) % unsigned(bytes) != 0))
    r.thread_error("cp.async of " + std::to_string(bytes) + " bytes needs " + std::to_string(bytes) + "-byte aligned addresses");
  if (!r.in_shared_memory(smem, size_t(bytes)))
    r.thread_error("cp.async destination is outside the block's shared memory");
  r.self().copies.push_back(AsyncCopy{smem, gmem, bytes, valid});
}

void cp_async_commit() {
  SimThread& t = BlockRunner::of_this_thread().self();
  t.group_ends.push_back(t.copies.size());
}

void cp_async_wait(int pending_groups) {
  SimThread& t = BlockRunner::of_this_thread().self();
  size_t keep = size_t(pending_groups);
  if (t.group_ends.size() <= keep) return;
  size_t apply = t.group_ends.size() - keep;
  size_t end = t.group_ends[apply - 1];
  for (size_t i = t.applied; i < end; i++) {
    const AsyncCopy& c = t.copies[i];
    if (c.valid)
      std::memcpy(c.dst, c.src, size_t(c.bytes));
    else
      std::memset(c.dst, 0, size_t(c.bytes));
  }
  t.applied = end;
  t.group_ends.erase(t.group_ends.begin(), t.group_ends.begin() + std::ptrdiff_t(apply));
  if (t.applied == t.copies.size()) {
    t.copies.clear();
    t.applied = 0;
    t.group_ends.clear();
  }
}

}  // namespace hgc::sim
