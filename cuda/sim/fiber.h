// Fibers for the simulator's block runner: an mmap'd stack with a guard page and a hand-written context
// switch (x86-64 System V: the callee-saved registers, rsp, MXCSR and the x87 control word). About a
// function call's cost, unlike ucontext, whose swapcontext makes a signal-mask system call on every switch.
// Under AddressSanitizer every switch is announced with __sanitizer_start/finish_switch_fiber.
#pragma once
#include <cstddef>
#include <vector>

namespace hgc::sim {

// The stack a fiber switches back to (the runner's own OS-thread stack).
struct MainContext {
  void* sp = nullptr;
  const void* asan_bottom = nullptr;  // learnt at the first switch into a fiber
  size_t asan_size = 0;
};

class Fiber {
 public:
  using Entry = void (*)(Fiber*);
  static constexpr size_t kStackBytes = 256 * 1024;

  Fiber();
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Prepares the fiber to run entry(this) from the top of its stack at the next resume().
  void start(Entry entry, MainContext* main);
  // Runs the fiber until it yields or finishes (called on the main stack).
  void resume();
  // Returns to the main stack; `finished` = this fiber will never be resumed.
  void yield(bool finished);
  // Must be the first thing entry() does (completes the sanitizer's switch bookkeeping).
  void entered();

  void* user = nullptr;  // the runner's data for this fiber

 private:
  void* sp_ = nullptr;
  char* map_ = nullptr;  // guard page + stack
  char* stack_lo_ = nullptr;
  Entry entry_ = nullptr;
  MainContext* main_ = nullptr;
  void* asan_fake_ = nullptr;  // this fiber's fake stack while it is suspended
  friend void fiber_trampoline(Fiber*);
};

// A free list of fibers (their stacks are the expensive part), one per runner.
class FiberPool {
 public:
  ~FiberPool();
  Fiber* acquire();
  void release(Fiber* f);

 private:
  std::vector<Fiber*> free_;
};

}  // namespace hgc::sim
