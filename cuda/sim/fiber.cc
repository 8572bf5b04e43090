// Fiber stacks and the context switch (see fiber.h).
#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include "hgc/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define HGC_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HGC_SIM_ASAN 1
#endif
#endif
#if defined(HGC_SIM_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

extern "C" {
// Saves the callee-saved state on the current stack, stores the stack pointer in *save_sp, switches to
// load_sp and restores the state saved there.
void hgc_sim_switch(void** save_sp, void* load_sp);
// First code a new fiber runs: calls fn(arg) from the two registers the initial frame sets. Its CFI marks the
// end of the stack for unwinders.
void hgc_sim_fiber_start();
}

#if defined(__x86_64__) && defined(__ELF__)
// x86-64 System V: rbx, rbp, r12-r15, MXCSR and the x87 control word; r12 = arg, r13 = fn at the start.
asm(R"(
  .text
  .globl hgc_sim_switch
  .hidden hgc_sim_switch
  .type hgc_sim_switch, @function
  .p2align 4
hgc_sim_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size hgc_sim_switch, .-hgc_sim_switch

  .globl hgc_sim_fiber_start
  .hidden hgc_sim_fiber_start
  .type hgc_sim_fiber_start, @function
  .p2align 4
hgc_sim_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %r12, %rdi
  callq *%r13
  ud2
  .cfi_endproc
  .size hgc_sim_fiber_start, .-hgc_sim_fiber_start
)");
#elif defined(__aarch64__) && defined(__ELF__)
// AArch64 AAPCS64: x19-x30, d8-d15 and FPCR in a 176-byte frame; x19 = arg, x20 = fn at the start.
// (Not exercised by CI, which is x86-64.)
asm(R"(
  .text
  .globl hgc_sim_switch
  .hidden hgc_sim_switch
  .type hgc_sim_switch, %function
  .p2align 4
hgc_sim_switch:
  sub sp, sp, #176
  stp x19, x20, [sp, #0]
  stp x21, x22, [sp, #16]
  stp x23, x24, [sp, #32]
  stp x25, x26, [sp, #48]
  stp x27, x28, [sp, #64]
  stp x29, x30, [sp, #80]
  stp d8, d9, [sp, #96]
  stp d10, d11, [sp, #112]
  stp d12, d13, [sp, #128]
  stp d14, d15, [sp, #144]
  mrs x9, fpcr
  str x9, [sp, #160]
  mov x9, sp
  str x9, [x0]
  mov sp, x1
  ldr x9, [sp, #160]
  msr fpcr, x9
  ldp x19, x20, [sp, #0]
  ldp x21, x22, [sp, #16]
  ldp x23, x24, [sp, #32]
  ldp x25, x26, [sp, #48]
  ldp x27, x28, [sp, #64]
  ldp x29, x30, [sp, #80]
  ldp d8, d9, [sp, #96]
  ldp d10, d11, [sp, #112]
  ldp d12, d13, [sp, #128]
  ldp d14, d15, [sp, #144]
  add sp, sp, #176
  ret
  .size hgc_sim_switch, .-hgc_sim_switch

  .globl hgc_sim_fiber_start
  .hidden hgc_sim_fiber_start
  .type hgc_sim_fiber_start, %function
  .p2align 4
hgc_sim_fiber_start:
  .cfi_startproc
  .cfi_undefined x30
  mov x0, x19
  blr x20
  brk #0
  .cfi_endproc
  .size hgc_sim_fiber_start, .-hgc_sim_fiber_start
)");
#else
#error "cuda/sim/fiber.cc: the fiber context switch exists for x86-64 and AArch64 ELF targets only"
#endif

namespace hgc::sim {

namespace {
size_t page_size() {
  static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return p;
}
}  // namespace

void fiber_trampoline(Fiber* f) {
  f->entry_(f);
  for (;;) f->yield(true);  // entry functions end with yield(true); never resumed after it
}

Fiber::Fiber() {
  size_t guard = page_size();
  void* p = mmap(nullptr, guard + kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                 -1, 0);
  if (p == MAP_FAILED) fail(ErrorCode::OOM, "cuda-sim: cannot map a ", kStackBytes, "-byte fiber stack");
  map_ = static_cast<char*>(p);
  mprotect(map_, guard, PROT_NONE);  // a stack overflow faults here instead of corrupting memory
  stack_lo_ = map_ + guard;
}

Fiber::~Fiber() { munmap(map_, page_size() + kStackBytes); }

void Fiber::start(Entry entry, MainContext* main) {
  entry_ = entry;
  main_ = main;
  asan_fake_ = nullptr;
#if defined(HGC_SIM_ASAN)
  __asan_unpoison_memory_region(stack_lo_, kStackBytes);  // frames of an earlier use may still be poisoned
#endif
#if defined(__x86_64__)
  // Initial frame, as hgc_sim_switch pops it: MXCSR/x87 word, r15, r14, r13, r12, rbx, rbp, return address.
  // After the `ret` into hgc_sim_fiber_start, rsp = top - 16 (16-byte aligned before its call).
  auto* ret = reinterpret_cast<uintptr_t*>(stack_lo_ + kStackBytes - 24);
  ret[0] = reinterpret_cast<uintptr_t>(&hgc_sim_fiber_start);
  ret[-1] = 0;                                              // rbp: end of the frame-pointer chain
  ret[-2] = 0;                                              // rbx
  ret[-3] = reinterpret_cast<uintptr_t>(this);              // r12: argument
  ret[-4] = reinterpret_cast<uintptr_t>(&fiber_trampoline);  // r13: function
  ret[-5] = 0;                                              // r14
  ret[-6] = 0;                                              // r15
  uint32_t mxcsr = __builtin_ia32_stmxcsr();
  ret[-7] = uint64_t(mxcsr) | (uint64_t(0x037f) << 32);    // default x87 control word
  sp_ = &ret[-7];
#else
  // Initial 176-byte frame, as hgc_sim_switch loads it: x19 = argument, x20 = function, x29 = 0 (end of the
  // frame chain), x30 = hgc_sim_fiber_start, FPCR = the current one.
  auto* frame = reinterpret_cast<uint64_t*>(stack_lo_ + kStackBytes - 176);
  for (int i = 0; i < 22; i++) frame[i] = 0;
  frame[0] = reinterpret_cast<uint64_t>(this);
  frame[1] = reinterpret_cast<uint64_t>(&fiber_trampoline);
  frame[11] = reinterpret_cast<uint64_t>(&hgc_sim_fiber_start);
  uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  frame[20] = fpcr;
  sp_ = frame;
#endif
}

void Fiber::resume() {
#if defined(HGC_SIM_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, stack_lo_, kStackBytes);
  hgc_sim_switch(&main_->sp, sp_);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  hgc_sim_switch(&main_->sp, sp_);
#endif
}

void Fiber::yield(bool finished) {
#if defined(HGC_SIM_ASAN)
  __sanitizer_start_switch_fiber(finished ? nullptr : &asan_fake_, main_->asan_bottom, main_->asan_size);
  hgc_sim_switch(&sp_, main_->sp);
  __sanitizer_finish_switch_fiber(asan_fake_, &main_->asan_bottom, &main_->asan_size);
#else
  (void)finished;
  hgc_sim_switch(&sp_, main_->sp);
#endif
}

void Fiber::entered() {
#if defined(HGC_SIM_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &main_->asan_bottom, &main_->asan_size);
#endif
}

FiberPool::~FiberPool() {
  for (Fiber* f : free_) delete f;
}

Fiber* FiberPool::acquire() {
  if (free_.empty()) return new Fiber();
  Fiber* f = free_.back();
  free_.pop_back();
  return f;
}

void FiberPool::release(Fiber* f) { free_.push_back(f); }

}  // namespace hgc::sim
