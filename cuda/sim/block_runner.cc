// The block runner (see block_runner.h): plain loop, fiber mode, barriers and warp rendezvous, errors.
#include "block_runner.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "hgc/error.h"
#include "kernel.h"

// The static shared memory section: the linker provides its template bounds; the anchor (first-found by its
// magic bytes in the template) gives this thread's copy of it.
extern "C" {
extern unsigned char __start_hgc_smem[];
extern unsigned char __stop_hgc_smem[];
}
static thread_local __attribute__((section("hgc_smem"), aligned(16))) unsigned char hgc_smem_anchor[16] = {
    'h', 'g', 'c', '-', 's', 'i', 'm', '-', 's', 'm', 'e', 'm', 0x5a, 0xa5, 0x3c, 0xc3};

namespace hgc::sim {

namespace {

constexpr unsigned char kPoison = 0xff;  // NaN as f32, f16 and bf16

// Offset of the anchor in the section (found once in the template by its bytes); SIZE_MAX if not found.
size_t anchor_offset() {
  static const size_t off = [] {
    size_t n = size_t(__stop_hgc_smem - __start_hgc_smem);
    for (size_t i = 0; i + 16 <= n; i += 16)
      if (std::memcmp(__start_hgc_smem + i, "hgc-sim-smem\x5a\xa5\x3c\xc3", 16) == 0) return i;
    return SIZE_MAX;
  }();
  return off;
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

const char* op_name(const WarpArrival& w) {
  switch (w.op) {
    case WarpOp::SyncWarp: return "sync_warp";
    case WarpOp::Ballot: return "ballot";
    case WarpOp::Mma: return "mma_m16n8k16";
    case WarpOp::Ldmatrix: return "ldmatrix";
    case WarpOp::Shuffle:
      switch (w.mode) {
        case ShflMode::idx: return "shfl_idx";
        case ShflMode::up: return "shfl_up";
        case ShflMode::down: return "shfl_down";
        case ShflMode::xor_: return "shfl_xor";
      }
  }
  return "warp collective";
}

bool same_collective(const WarpArrival& a, const WarpArrival& b) {
  if (a.op != b.op || a.mask != b.mask) return false;
  if (a.op == WarpOp::Shuffle) return a.mode == b.mode && a.width == b.width;
  if (a.op == WarpOp::Mma) return a.mma_type == b.mma_type;
  if (a.op == WarpOp::Ldmatrix) return a.count == b.count && a.trans == b.trans;
  return true;
}

std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

}  // namespace

StaticSmem static_smem_of_this_thread() {
  size_t off = anchor_offset();
  if (off == SIZE_MAX) return {hgc_smem_anchor, 0};  // cannot happen with a GNU linker; then no poisoning
  return {hgc_smem_anchor - off, size_t(__stop_hgc_smem - __start_hgc_smem)};
}

BlockRunner& BlockRunner::of_this_thread() {
  static thread_local BlockRunner runner;
  return runner;
}

BlockRunner::BlockRunner() = default;

BlockRunner::~BlockRunner() {
  if (plain_fiber_) pool_.release(plain_fiber_);
  for (SimThread& t : threads_)
    if (t.fiber && t.fiber != plain_fiber_) pool_.release(t.fiber);
}

void BlockRunner::begin_launch(const char* name, const KernelBody* body, dim3 grid, dim3 block,
                               unsigned char* dyn_smem, size_t dyn_bytes, uint64_t seed) {
  name_ = name;
  body_ = body;
  block_dim_ = block;
  nthreads_ = block.x * block.y * block.z;
  dyn_smem_ = dyn_smem;
  dyn_bytes_ = dyn_bytes;
  seed_ = seed;
  threads_.resize(nthreads_);
  order_.resize(nthreads_);
  for (unsigned i = 0; i < nthreads_; i++) {
    SimThread& t = threads_[i];
    t.linear = i;
    t.idx = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
  }
  measured_ = false;  // the first block poisons the whole static section and measures what the kernel uses
  current.block_dim = uint3{block.x, block.y, block.z};
  current.grid_dim = uint3{grid.x, grid.y, grid.z};
  current.dyn_smem = dyn_smem;
}

// After the launch's first block on this runner: the bytes of the static section it wrote (a lower bound of
// the kernel's static shared memory) and their range, which later blocks re-poison instead of the section.
size_t BlockRunner::measure_static_smem() {
  StaticSmem s = static_smem_of_this_thread();
  const size_t anchor = anchor_offset() == SIZE_MAX ? s.bytes : anchor_offset();
  size_t count = 0, lo = s.bytes, hi = 0;
  for (size_t i = 0; i < s.bytes;) {
    if (i + 8 <= s.bytes && i % 8 == 0) {  // skip untouched words quickly (the section is 16-byte aligned)
      uint64_t word;
      std::memcpy(&word, s.base + i, 8);
      if (word == ~uint64_t(0)) {
        i += 8;
        continue;
      }
    }
    if (s.base[i] != kPoison && (i < anchor || i >= anchor + 16)) {
      count++;
      lo = std::min(lo, i);
      hi = i + 1;
    }
    i++;
  }
  poison_lo_ = lo < hi ? lo : 0;
  poison_hi_ = hi;
  measured_ = true;
  return count;
}

bool BlockRunner::in_shared_memory(const void* p, size_t bytes) const {
  auto* c = static_cast<const unsigned char*>(p);
  if (dyn_smem_ && c >= dyn_smem_ && c + bytes <= dyn_smem_ + dyn_bytes_) return true;
  StaticSmem s = static_smem_of_this_thread();
  return c >= s.base && c + bytes <= s.base + s.bytes;
}

// ---------------------------------------------------------------------------------------------------------
// Running a block.

void BlockRunner::run_block(uint3 block_idx) {
  block_idx_ = block_idx;
  current.block_idx = block_idx;
  StaticSmem s = static_smem_of_this_thread();
  if (!measured_)
    std::memset(s.base, kPoison, s.bytes);
  else if (poison_hi_ > poison_lo_)
    std::memset(s.base + poison_lo_, kPoison, poison_hi_ - poison_lo_);
  if (dyn_bytes_) std::memset(dyn_smem_, kPoison, dyn_bytes_);

  for (SimThread& t : threads_) {
    t.state = ThreadState::NotStarted;
    t.fiber = nullptr;
    t.copies.clear();
    t.applied = 0;
    t.group_ends.clear();
  }
  for (unsigned i = 0; i < nthreads_; i++) order_[i] = i;
  rng_ = seed_ ^ (uint64_t(block_idx.x) * 0x9e3779b97f4a7c15ull + uint64_t(block_idx.y) * 0xc2b2ae3d27d4eb4full +
                  uint64_t(block_idx.z) * 0x165667b19e3779f9ull);
  if (seed_)
    for (unsigned i = nthreads_; i > 1; i--) std::swap(order_[i - 1], order_[splitmix(rng_) % i]);
  plain_pos_ = 0;
  ready_.clear();
  ready_head_ = 0;
  fiber_mode_ = false;
  cancelling_ = false;
  live_ = nthreads_;
  exited_ = at_barrier_ = 0;
  warp_bits_.assign((nthreads_ + 31) / 32, WarpBits{});
  failure_ = nullptr;

  if (!plain_fiber_) plain_fiber_ = pool_.acquire();
  plain_fiber_->user = nullptr;  // null = the plain loop
  plain_fiber_->start(&BlockRunner::fiber_main, &main_);
  cur_ = nullptr;
  plain_fiber_->resume();
  after_yield();

  for (;;) {
    if (failure_) {
      cancel_all();
      std::exception_ptr f = failure_;
      failure_ = nullptr;
      std::rethrow_exception(f);
    }
    if (ready_head_ < ready_.size()) {
      resume(threads_[take_ready()]);
      after_yield();
      continue;
    }
    if (live_ == 0) break;
    if (at_barrier_ == live_) {
      release_barrier();
      continue;
    }
    deadlock();
  }
  // Every fiber has finished: return them to the pool.
  for (SimThread& t : threads_) {
    if (t.fiber && t.fiber != plain_fiber_) pool_.release(t.fiber);
    t.fiber = nullptr;
  }
}

void BlockRunner::fiber_main(Fiber* f) {
  f->entered();
  BlockRunner& r = of_this_thread();
  try {
    if (f->user == nullptr)
      r.plain_loop();
    else
      r.run_thread(*static_cast<SimThread*>(f->user));
  } catch (const FiberCancelled&) {
    // unwound on purpose: the block was abandoned
  } catch (...) {
    if (!r.failure_) r.failure_ = std::current_exception();
    if (r.cur_ && r.cur_->state != ThreadState::Exited) r.finish_thread(*r.cur_);
  }
  f->yield(true);
}

void BlockRunner::plain_loop() {
  while (plain_pos_ < nthreads_) {
    SimThread& t = threads_[order_[plain_pos_++]];
    t.fiber = plain_fiber_;
    cur_ = &t;
    current.thread_idx = t.idx;
    t.state = ThreadState::Running;
    (*body_)();
    finish_thread(t);
    if (fiber_mode_) return;  // the threads not yet run have fibers of their own now
  }
}

void BlockRunner::run_thread(SimThread& t) {
  t.state = ThreadState::Running;
  (*body_)();
  finish_thread(t);
}

void BlockRunner::finish_thread(SimThread& t) {
  t.state = ThreadState::Exited;
  t.copies.clear();  // cp.async never waited for: the data would land after the thread is gone
  t.applied = 0;
  t.group_ends.clear();
  live_--;
  exited_++;
  warp_bits_[t.linear / 32].exited |= 1u << (t.linear & 31u);
}

void BlockRunner::resume(SimThread& t) {
  if (!t.fiber) {
    t.fiber = pool_.acquire();
    t.fiber->user = &t;
    t.fiber->start(&BlockRunner::fiber_main, &main_);
  }
  cur_ = &t;
  current.thread_idx = t.idx;
  if (t.state != ThreadState::NotStarted) t.state = ThreadState::Running;
  t.fiber->resume();
}

void BlockRunner::yield_current() {
  Fiber* f = cur_->fiber;
  f->yield(false);
  if (cancelling_) throw FiberCancelled{};
}

// Called on the runner's stack after a fiber gave control back.
void BlockRunner::after_yield() {
  SimThread* t = cur_;
  if (failure_ || !t) return;
  switch (t->state) {
    case ThreadState::Barrier:
      if (!fiber_mode_) enter_fiber_mode();
      on_barrier_arrival(*t);
      break;
    case ThreadState::Warp:
      if (!fiber_mode_) enter_fiber_mode();
      on_warp_arrival(*t);
      break;
    default:
      break;
  }
}

void BlockRunner::enter_fiber_mode() {
  fiber_mode_ = true;
  for (unsigned k = plain_pos_; k < nthreads_; k++) ready_.push_back(order_[k]);
  plain_pos_ = nthreads_;
}

// The next thread to resume: the oldest ready one, or a random ready one when a seed is set.
unsigned BlockRunner::take_ready() {
  if (seed_) {
    size_t k = ready_head_ + size_t(splitmix(rng_) % (ready_.size() - ready_head_));
    std::swap(ready_[k], ready_[ready_head_]);
  }
  unsigned id = ready_[ready_head_++];
  if (ready_head_ == ready_.size()) {
    ready_.clear();
    ready_head_ = 0;
  }
  return id;
}

// ---------------------------------------------------------------------------------------------------------
// Barriers.

void BlockRunner::wait_at_barrier(const char* file, int line) {
  SimThread& t = self();
  t.bar_file = file;
  t.bar_line = line;
  t.state = ThreadState::Barrier;
  yield_current();
}

void BlockRunner::on_barrier_arrival(SimThread& t) {
  if (at_barrier_ == 0) {
    bar_file_ = t.bar_file;
    bar_line_ = t.bar_line;
  } else if (t.bar_line != bar_line_ || (t.bar_file != bar_file_ && std::strcmp(t.bar_file, bar_file_) != 0)) {
    std::ostringstream os;
    os << "divergent __syncthreads: " << where(&t) << " waits at " << t.bar_file << ":" << t.bar_line << " while "
       << at_barrier_ << " thread(s) wait at " << bar_file_ << ":" << bar_line_;
    block_error(os.str());
  }
  at_barrier_++;
  warp_bits_[t.linear / 32].barrier |= 1u << (t.linear & 31u);
}

void BlockRunner::release_barrier() {
  if (exited_ > 0) {
    std::ostringstream os;
    os << "divergent __syncthreads: " << at_barrier_ << " thread(s) wait at " << bar_file_ << ":" << bar_line_
       << " but " << exited_ << " thread(s) of the block already exited without reaching it";
    for (const SimThread& t : threads_)
      if (t.state == ThreadState::Exited) {
        os << " (e.g. " << where(&t) << ")";
        break;
      }
    block_error(os.str());
  }
  for (SimThread& t : threads_)
    if (t.state == ThreadState::Barrier) {
      t.state = ThreadState::Running;
      ready_.push_back(t.linear);
    }
  for (WarpBits& w : warp_bits_) w.barrier = 0;
  at_barrier_ = 0;
}

// ---------------------------------------------------------------------------------------------------------
// Warp collectives.

void BlockRunner::wait_for_warp() {
  self().state = ThreadState::Warp;
  yield_current();
}

// Lanes of each warp by state, so that an arrival is checked in O(1) in the common case.
void BlockRunner::on_warp_arrival(SimThread& t) {
  const unsigned base = t.linear & ~31u, lane = t.linear & 31u;
  const unsigned lanes = std::min(32u, nthreads_ - base);
  const unsigned mask = t.warp.mask;
  WarpBits& w = warp_bits_[base / 32];
  const char* op = op_name(t.warp);
  if (!(mask >> lane & 1u))
    block_error(std::string(op) + ": " + where(&t) + " is not in its own mask " + hex(mask));
  if (lanes < 32 && (mask >> lanes) != 0)
    block_error(std::string(op) + ": mask " + hex(mask) + " names lanes that do not exist (warp " +
                std::to_string(base / 32) + " has " + std::to_string(lanes) + " lanes; the block has " +
                std::to_string(nthreads_) + " threads)");
  auto mismatch = [&](unsigned j) {
    const SimThread& o = threads_[base + j];
    block_error(std::string(op) + " with mask " + hex(mask) + " at " + where(&t) + ", but " + where(&o) +
                " waits at " + op_name(o.warp) + " with mask " + hex(o.warp.mask));
  };
  // Waiting lanes of this mask were checked against each other when they arrived: one representative will do.
  if (unsigned in_mask = w.waiting & mask) {
    unsigned j = unsigned(__builtin_ctz(in_mask));
    if (!same_collective(threads_[base + j].warp, t.warp)) mismatch(j);
  }
  // A lane waiting outside this mask must not be waiting for this lane.
  for (unsigned rest = w.waiting & ~mask; rest; rest &= rest - 1) {
    unsigned j = unsigned(__builtin_ctz(rest));
    if (threads_[base + j].warp.mask >> lane & 1u) mismatch(j);
  }
  if (unsigned gone = w.exited & mask)
    block_error(std::string(op) + ": mask " + hex(mask) + " names " + where(&threads_[base + __builtin_ctz(gone)]) +
                ", which exited without arriving");
  if (unsigned held = w.barrier & mask) {
    const SimThread& o = threads_[base + __builtin_ctz(held)];
    block_error(std::string(op) + ": mask " + hex(mask) + " names " + where(&o) + ", which waits at __syncthreads (" +
                o.bar_file + ":" + std::to_string(o.bar_line) + ")");
  }
  w.waiting |= 1u << lane;
  if ((w.waiting & mask) != mask) return;
  execute_collective(base, lanes, t);
  w.waiting &= ~mask;
  for (unsigned j = 0; j < lanes; j++)
    if (mask >> j & 1u) {
      threads_[base + j].state = ThreadState::Running;
      ready_.push_back(base + j);
    }
}

void BlockRunner::deadlock() {
  std::ostringstream os;
  os << "deadlock: no thread can continue;";
  if (at_barrier_) os << " " << at_barrier_ << " thread(s) wait at __syncthreads (" << bar_file_ << ":" << bar_line_ << ");";
  for (const SimThread& t : threads_) {
    if (t.state != ThreadState::Warp) continue;
    unsigned base = t.linear & ~31u, missing = 0;
    for (unsigned j = 0; j < 32 && base + j < nthreads_; j++)
      if ((t.warp.mask >> j & 1u) && threads_[base + j].state != ThreadState::Warp) missing |= 1u << j;
    os << " " << where(&t) << " waits at " << op_name(t.warp) << " with mask " << hex(t.warp.mask)
       << " for lanes " << lane_list(missing) << " that never arrive;";
    break;
  }
  block_error(os.str());
}

// ---------------------------------------------------------------------------------------------------------
// Errors.

std::string BlockRunner::where(const SimThread* t) const {
  std::ostringstream os;
  os << "thread (" << t->idx.x << "," << t->idx.y << "," << t->idx.z << ") [warp " << t->linear / 32 << " lane "
     << t->linear % 32 << "]";
  return os.str();
}

// "0,3,16-31": the set bits as runs.
std::string BlockRunner::lane_list(unsigned bits) const {
  std::string s;
  for (unsigned j = 0; j < 32; j++) {
    if (!(bits >> j & 1u)) continue;
    unsigned k = j;
    while (k + 1 < 32 && (bits >> (k + 1) & 1u)) k++;
    s += (s.empty() ? "" : ",") + std::to_string(j) + (k > j ? "-" + std::to_string(k) : "");
    j = k;
  }
  return s.empty() ? "(none)" : s;
}

void BlockRunner::block_error(const std::string& what) {
  std::ostringstream os;
  os << "kernel '" << name_ << "' block (" << block_idx_.x << "," << block_idx_.y << "," << block_idx_.z << "): " << what;
  cancel_all();
  throw Error(ErrorCode::Cuda, os.str());
}

void BlockRunner::thread_error(const std::string& what) {
  std::ostringstream os;
  os << "kernel '" << name_ << "' block (" << block_idx_.x << "," << block_idx_.y << "," << block_idx_.z << ") "
     << where(cur_) << ": " << what;
  throw Error(ErrorCode::Cuda, os.str());  // caught by fiber_main, rethrown by run_block
}

// Unwinds every suspended fiber (FiberCancelled from its barrier or collective), so that no stack frame
// is abandoned, then returns all fibers to the pool.
void BlockRunner::cancel_all() {
  cancelling_ = true;
  for (SimThread& t : threads_) {
    if (!t.fiber || t.state == ThreadState::Exited || t.state == ThreadState::NotStarted) continue;
    cur_ = &t;
    current.thread_idx = t.idx;
    t.fiber->resume();
  }
  cancelling_ = false;
  for (SimThread& t : threads_) {
    if (t.fiber && t.fiber != plain_fiber_) pool_.release(t.fiber);
    t.fiber = nullptr;
  }
  ready_.clear();
  ready_head_ = 0;
}

}  // namespace hgc::sim
