// The block runner: executes one thread block of a simulated kernel on the calling OS thread.
//
// Threads start in "plain" mode: one fiber runs thread after thread (thread 0 first, or a seeded random
// order) as a plain loop, the fast path of kernels without barriers or warp collectives. The first thread
// that reaches a __syncthreads or a warp collective switches the block to fiber mode: that thread keeps the
// plain fiber, every thread not yet run gets a fiber of its own, and from then on a scheduler loop on the
// OS thread's stack resumes ready fibers (in order, or in a seeded random order) until each yields at a
// barrier or collective, exits, or fails. Barriers release when every live thread waits at the same call
// site; collectives complete when every lane of the mask has arrived. Anything else is an error naming the
// kernel, and the suspended fibers are unwound (cancelled) so nothing leaks and the runner stays usable.
#pragma once
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "fiber.h"
#include "launch.h"
#include "warp.h"

namespace hgc::sim {

enum class ThreadState : uint8_t { NotStarted, Running, Barrier, Warp, Exited };
enum class WarpOp : uint8_t { SyncWarp, Shuffle, Ballot, Mma, Ldmatrix };

// What a lane brings to a warp collective, and what it gets back.
struct WarpArrival {
  WarpOp op;
  unsigned mask;
  ShflMode mode;      // shuffle
  int b, width;       // shuffle: lane / delta / lane mask, segment width
  MmaType mma_type;   // mma
  int count;          // ldmatrix: matrices
  bool trans;         // ldmatrix
  uint32_t in[10];    // shuffle value; ballot predicate; mma a[4], b[2], c[4] (float bits)
  const void* ptr;    // ldmatrix row address
  uint32_t out[4];
};

struct AsyncCopy {
  void* dst;
  const void* src;
  int bytes;
  bool valid;
};

struct SimThread {
  uint3 idx;
  unsigned linear;
  ThreadState state;
  Fiber* fiber;
  const char* bar_file;
  int bar_line;
  WarpArrival warp;
  std::vector<AsyncCopy> copies;     // issued, not yet applied (from `applied` on)
  size_t applied = 0;
  std::vector<size_t> group_ends;    // end index in `copies` of each committed, unapplied group
};

// Thrown inside a suspended fiber to unwind it when its block is abandoned. Kernels never catch it.
struct FiberCancelled {};

// The lanes of one warp that wait at a collective, have exited, or wait at a barrier.
struct WarpBits {
  unsigned waiting = 0, exited = 0, barrier = 0;
};

class BlockRunner {
 public:
  BlockRunner();
  ~BlockRunner();

  // Per launch: the kernel and its shape. `dyn_smem` is this OS thread's dynamic shared memory buffer.
  void begin_launch(const char* name, const KernelBody* body, dim3 grid, dim3 block, unsigned char* dyn_smem,
                    size_t dyn_bytes, uint64_t seed);
  // Runs one block to completion; throws hgc::Error(CUDA) on a kernel error (the runner stays usable).
  void run_block(uint3 block_idx);
  // Called after the launch's first block on this runner: returns the static shared memory bytes it wrote (a
  // lower bound of what the kernel declares); later blocks of the launch re-poison only that range.
  size_t measure_static_smem();

  // --- called from the simulated thread (on its fiber) ---
  SimThread& self() { return *cur_; }
  void wait_at_barrier(const char* file, int line);
  void wait_for_warp();  // self().warp filled in; returns with self().warp.out set
  bool in_shared_memory(const void* p, size_t bytes) const;
  [[noreturn]] void thread_error(const std::string& what);

  static BlockRunner& of_this_thread();

 private:
  static void fiber_main(Fiber* f);
  void plain_loop();
  void run_thread(SimThread& t);
  void finish_thread(SimThread& t);
  void yield_current();
  void resume(SimThread& t);
  void after_yield();
  void enter_fiber_mode();
  void on_barrier_arrival(SimThread& t);
  void on_warp_arrival(SimThread& t);
  void execute_collective(unsigned base, unsigned lanes_in_warp, const SimThread& first);
  unsigned take_ready();
  void release_barrier();
  [[noreturn]] void block_error(const std::string& what);
  [[noreturn]] void deadlock();
  void cancel_all();
  std::string where(const SimThread* t) const;
  std::string lane_list(unsigned bits) const;

  const char* name_ = "";
  const KernelBody* body_ = nullptr;
  dim3 block_dim_;
  unsigned nthreads_ = 0;
  unsigned char* dyn_smem_ = nullptr;
  size_t dyn_bytes_ = 0;
  uint64_t seed_ = 0;
  uint64_t rng_ = 0;
  uint3 block_idx_{};

  std::vector<SimThread> threads_;
  std::vector<WarpBits> warp_bits_;
  std::vector<unsigned> order_;  // plain-loop order
  unsigned plain_pos_ = 0;
  std::vector<unsigned> ready_;
  size_t ready_head_ = 0;
  SimThread* cur_ = nullptr;
  bool fiber_mode_ = false;
  bool cancelling_ = false;
  unsigned live_ = 0, exited_ = 0, at_barrier_ = 0;
  const char* bar_file_ = nullptr;
  int bar_line_ = 0;
  std::exception_ptr failure_;
  bool measured_ = false;
  size_t poison_lo_ = 0, poison_hi_ = 0;

  MainContext main_;
  FiberPool pool_;
  Fiber* plain_fiber_ = nullptr;
};

// The per-OS-thread static shared memory: the TLS section "hgc_smem" (all kernels' __shared__ arrays).
struct StaticSmem {
  unsigned char* base;
  size_t bytes;
};
StaticSmem static_smem_of_this_thread();

}  // namespace hgc::sim
