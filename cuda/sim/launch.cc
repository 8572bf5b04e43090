// Kernel launches in the simulator: validates the configuration and the shared-memory limit, then runs the
// grid's blocks on the calling thread and, when configured, on a few worker threads (one block per OS thread
// at a time, each with its own BlockRunner, static shared memory and dynamic shared memory buffer).
#include "launch.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "block_runner.h"
#include "hgc/error.h"
#include "kernel.h"

namespace hgc::sim {

namespace {

Config initial_config() {
  Config c;
  if (const char* s = std::getenv("HGC_SIM_SEED")) c.seed = std::strtoull(s, nullptr, 10);
  unsigned hw = std::thread::hardware_concurrency();
  c.threads = int(hw == 0 ? 1 : (hw < 4 ? hw : 4));
  if (const char* s = std::getenv("HGC_SIM_THREADS")) c.threads = std::atoi(s);
  if (c.threads < 1) c.threads = 1;
  return c;
}

std::mutex config_mutex;
Config& config_ref() {
  static Config c = initial_config();
  return c;
}

// Workers that run a launch's blocks alongside the caller. One launch at a time; a launch that finds the
// pool busy (another JS thread) runs on its caller alone.
class BlockPool {
 public:
  static BlockPool& get() {
    static BlockPool* pool = new BlockPool();  // never destroyed: workers may outlive static destruction
    return *pool;
  }

  // Calls job() on `extra` workers and on the caller; returns when all have returned.
  void run(int extra, const std::function<void()>& job) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock() || extra <= 0) {
      job();
      return;
    }
    while (int(workers_.size()) < extra) workers_.emplace_back([this] { work(); });
    {
      std::lock_guard<std::mutex> g(m_);
      job_ = &job;
      wanted_ = extra;
      running_ = extra;
      generation_++;
    }
    cv_.notify_all();
    job();
    std::unique_lock<std::mutex> g(m_);
    done_cv_.wait(g, [this] { return running_ == 0; });
    job_ = nullptr;
  }

 private:
  void work() {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void()>* job;
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [&] { return generation_ != seen && wanted_ > 0; });
        seen = generation_;
        wanted_--;
        job = job_;
      }
      (*job)();
      std::lock_guard<std::mutex> g(m_);
      if (--running_ == 0) done_cv_.notify_all();
    }
  }

  std::mutex busy_, m_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void()>* job_ = nullptr;
  int wanted_ = 0, running_ = 0;
  uint64_t generation_ = 0;
};

// Dynamic shared memory of one OS thread for one launch: exactly the requested bytes (so ASan builds catch
// overruns), 16-byte aligned.
struct DynSmem {
  unsigned char* p = nullptr;
  explicit DynSmem(size_t bytes) {
    if (bytes) p = static_cast<unsigned char*>(std::aligned_alloc(16, (bytes + 15) & ~size_t(15)));
    if (bytes && !p) fail(ErrorCode::OOM, "cuda-sim: cannot allocate ", bytes, " bytes of shared memory");
  }
  ~DynSmem() { std::free(p); }
};

}  // namespace

Config config() {
  std::lock_guard<std::mutex> g(config_mutex);
  return config_ref();
}

void set_config(const Config& c) {
  std::lock_guard<std::mutex> g(config_mutex);
  config_ref() = c;
  if (config_ref().threads < 1) config_ref().threads = 1;
}

void syncthreads(const char* file, int line) { BlockRunner::of_this_thread().wait_at_barrier(file, line); }

void threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

void validate_launch(const char* name, const void* kernel, dim3 grid, dim3 block, size_t dynamic_smem) {
  const uint64_t nthreads = uint64_t(block.x) * block.y * block.z;
  if (nthreads == 0 || nthreads > kMaxThreadsPerBlock || block.x > 1024 || block.y > 1024 || block.z > 64)
    fail(ErrorCode::Cuda, "kernel '", name, "': invalid block (", block.x, ",", block.y, ",", block.z,
         "): at most 1024 threads, 1024×1024×64");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    fail(ErrorCode::Cuda, "kernel '", name, "': invalid grid (", grid.x, ",", grid.y, ",", grid.z, ")");
  const size_t limit = max_dynamic_smem(kernel);
  if (dynamic_smem > limit)
    fail(ErrorCode::Cuda, "kernel '", name, "': ", dynamic_smem, " bytes of dynamic shared memory exceed the limit of ",
         limit, " bytes", limit < kMaxSmemPerBlockOptin ? " (opt in with cudaFuncSetAttribute, up to 232448)" : "");
}

void launch(const char* name, const void* kernel, dim3 grid, dim3 block, size_t dynamic_smem, const KernelBody& body) {
  validate_launch(name, kernel, grid, block, dynamic_smem);
  const size_t limit = max_dynamic_smem(kernel);
  const Config cfg = config();
  const uint64_t nblocks = uint64_t(grid.x) * grid.y * grid.z;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;

  auto job = [&] {
    BlockRunner& runner = BlockRunner::of_this_thread();
    try {
      DynSmem smem(dynamic_smem);
      runner.begin_launch(name, &body, grid, block, smem.p, dynamic_smem, cfg.seed);
      bool measured = false;
      for (uint64_t b; !failed.load(std::memory_order_relaxed) && (b = next.fetch_add(1)) < nblocks;) {
        uint3 idx{unsigned(b % grid.x), unsigned((b / grid.x) % grid.y), unsigned(b / (uint64_t(grid.x) * grid.y))};
        runner.run_block(idx);
        if (!measured) {
          // Static __shared__ arrays count against the same limit; the simulator sees the bytes a block wrote.
          measured = true;
          size_t written = runner.measure_static_smem();
          if (written + dynamic_smem > limit)
            fail(ErrorCode::Cuda, "kernel '", name, "': ", written, " bytes of static shared memory (at least) plus ",
                 dynamic_smem, " dynamic exceed the limit of ", limit, " bytes");
        }
      }
    } catch (...) {
      failed = true;
      std::lock_guard<std::mutex> g(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  const int extra = int(std::min<uint64_t>(uint64_t(cfg.threads), nblocks)) - 1;
  BlockPool::get().run(extra, job);
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(ErrorCode::Cuda, "kernel '", name, "': ", e.what());
  }
}

}  // namespace hgc::sim
