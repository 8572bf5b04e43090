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

void* CachingAllocator::allocate(size_t bytes, size_t* rounded_bytes) {
  size_t rounded = round_size(bytes);
  *rounded_bytes = rounded;
  {
    std::lock_guard<std::mutex> lock(mutex_);
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

void CachingAllocator::release(void* ptr, size_t rounded_bytes) {
  if (!ptr) return;
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

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace hgc
