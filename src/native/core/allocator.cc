#include "hgc/allocator.h"

#include "hgc/error.h"

namespace hgc {

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  constexpr size_t kSmallUnit = 512, kSmallLimit = size_t(1) << 20;
  if (bytes <= kSmallLimit) return (bytes + kSmallUnit - 1) / kSmallUnit * kSmallUnit;
  // Four size classes per power of two bound the waste to 25%.
  size_t power = kSmallLimit;
  while (power * 2 < bytes) power *= 2;
  size_t step = power / 4;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes, size_t* rounded_bytes, std::shared_ptr<PrivatePool>* pool) {
  size_t rounded = round_size(bytes);
  *rounded_bytes = rounded;
  if (pool) pool->reset();
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (active_pool_) {
      check(pool != nullptr, ErrorCode::Arg, "allocation on ", device_name_,
            " during a graph capture from a caller that cannot take private-pool memory");
      *pool = active_pool_;
      lock.unlock();
      return allocate_private(**pool, rounded, bytes);
    }
    stats_.allocations++;
    auto it = free_lists_.find(rounded);
    if (it != free_lists_.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      stats_.cache_hits++;
      stats_.bytes_cached -= rounded;
      stats_.bytes_in_use += rounded;
      if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
      return ptr;
    }
  }
  void* ptr = raw_alloc_(rounded);
  if (!ptr) {
    empty_cache();
    ptr = raw_alloc_(rounded);
  }
  if (!ptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.allocations--;
    fail(ErrorCode::OOM, "out of memory on ", device_name_, ": could not allocate ", bytes, " bytes (",
         stats_.bytes_in_use, " bytes in use)");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.device_allocations++;
  stats_.bytes_in_use += rounded;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return ptr;
}

void CachingAllocator::release(void* ptr, size_t rounded_bytes, PrivatePool* pool) {
  if (!ptr) return;
  if (pool) {
    std::lock_guard<std::mutex> lock(pool->mutex_);
    pool->free_lists_[rounded_bytes].push_back(ptr);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  free_lists_[rounded_bytes].push_back(ptr);
  stats_.bytes_in_use -= rounded_bytes;
  stats_.bytes_cached += rounded_bytes;
}

void CachingAllocator::empty_cache() {
  std::map<size_t, std::vector<void*>> lists;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    lists.swap(free_lists_);
    stats_.bytes_cached = 0;
  }
  for (auto& entry : lists)
    for (void* p : entry.second) raw_free_(p);
}

void* CachingAllocator::allocate_private(PrivatePool& pool, size_t rounded, size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(pool.mutex_);
    auto it = pool.free_lists_.find(rounded);
    if (it != pool.free_lists_.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      return ptr;
    }
  }
  void* ptr = raw_alloc_(rounded);
  if (!ptr) {
    empty_cache();  // the shared free lists only: the pool's own blocks may be in use by the graph
    ptr = raw_alloc_(rounded);
  }
  check(ptr != nullptr, ErrorCode::OOM, "out of memory on ", device_name_, ": could not allocate ", bytes,
        " bytes for a graph's private pool (", pool.bytes_reserved(), " bytes reserved by it)");
  {
    std::lock_guard<std::mutex> lock(pool.mutex_);
    pool.blocks_.push_back(ptr);
    pool.bytes_ += rounded;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocations++;
  stats_.device_allocations++;
  stats_.bytes_in_private_pools += rounded;
  return ptr;
}

std::shared_ptr<PrivatePool> CachingAllocator::begin_private_pool() {
  std::lock_guard<std::mutex> lock(mutex_);
  check(!active_pool_, ErrorCode::Arg, "a graph is already being captured on ", device_name_);
  active_pool_ = std::shared_ptr<PrivatePool>(new PrivatePool(*this));
  stats_.private_pools++;
  return active_pool_;
}

void CachingAllocator::end_private_pool() {
  std::lock_guard<std::mutex> lock(mutex_);
  active_pool_.reset();
}

void CachingAllocator::private_pool_freed(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.bytes_in_private_pools -= bytes;
  stats_.private_pools--;
}

PrivatePool::~PrivatePool() {
  for (void* p : blocks_) owner_.raw_free(p);
  owner_.private_pool_freed(bytes_);
}

size_t PrivatePool::bytes_reserved() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace hgc
