#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace hgc::cpu {
namespace {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) : threads_(std::max(1, threads)) {
    for (int i = 1; i < threads_; i++) workers_.emplace_back([this] { worker_loop(); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int threads() const { return threads_; }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
    if (n <= 0) return;
    int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
    // Fine-grained chunks (4 per thread) balance uneven work; the grain keeps each worth the hand-off.
    int64_t chunks = std::min<int64_t>(max_chunks, int64_t(threads_) * 4);
    if (threads_ == 1 || chunks < 2 || tls_in_pool_) {
      body(0, n);
      return;
    }
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {  // another thread is using the pool: do not oversubscribe
      body(0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = Job{&body, n, chunks};
      next_chunk_.store(0);
      pending_ = chunks;
      error_ = nullptr;
      generation_++;
    }
    wake_.notify_all();
    tls_in_pool_ = true;
    work_on_job();
    tls_in_pool_ = false;
    std::unique_lock<std::mutex> lock(mutex_);
    // Wait for every worker to leave the job too, so none can pick up a chunk of the next one with this body.
    done_.wait(lock, [this] { return pending_ == 0 && active_ == 0; });
    job_.body = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* body = nullptr;
    int64_t n = 0;
    int64_t chunks = 0;
  };

  void work_on_job() {
    for (;;) {
      int64_t c = next_chunk_.fetch_add(1);
      if (c >= job_.chunks) return;
      int64_t begin = job_.n * c / job_.chunks, end = job_.n * (c + 1) / job_.chunks;
      try {
        (*job_.body)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_all();
    }
  }

  void worker_loop() {
    tls_in_pool_ = true;
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && job_.body != nullptr); });
        if (stopping_) return;
        seen = generation_;
        active_++;
      }
      work_on_job();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0) done_.notify_all();
    }
  }

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the thread whose job the pool is running
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  Job job_;
  std::atomic<int64_t> next_chunk_{0};
  int64_t pending_ = 0;
  int active_ = 0;  // workers inside work_on_job
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  static thread_local bool tls_in_pool_;
};

thread_local bool ThreadPool::tls_in_pool_ = false;

int configured_threads() {
  if (const char* env = std::getenv("HGC_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, 256);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

ThreadPool& pool() {
  // Intentionally leaked: joining threads during static destruction at process exit can deadlock.
  static ThreadPool* instance = new ThreadPool(configured_threads());
  return *instance;
}

}  // namespace

int num_threads() { return pool().threads(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  pool().run(n, grain, body);
}

}  // namespace hgc::cpu
