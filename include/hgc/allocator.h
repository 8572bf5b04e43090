// A size-binned caching allocator, one per device. Freed blocks go back to a free list keyed by their
// rounded size and are handed out again before the device allocator is asked; when the device allocator
// fails, the cache is emptied and the request retried once, then OOM is raised as an hgc::Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace hgc {

struct AllocatorStats {
  size_t bytes_in_use = 0;      // handed out to tensors
  size_t bytes_cached = 0;      // held in free lists, ready for reuse
  size_t peak_bytes_in_use = 0;
  uint64_t allocations = 0;     // requests served
  uint64_t cache_hits = 0;      // requests served from the free lists
  uint64_t device_allocations = 0;
};

class CachingAllocator {
 public:
  using RawAlloc = void* (*)(size_t bytes);  // returns nullptr on failure
  using RawFree = void (*)(void* ptr);

  CachingAllocator(const char* device_name, RawAlloc raw_alloc, RawFree raw_free)
      : device_name_(device_name), raw_alloc_(raw_alloc), raw_free_(raw_free) {}
  ~CachingAllocator() { empty_cache(); }
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Returns a block of at least `bytes` bytes (64-byte aligned on the CPU). Throws Error(OOM).
  void* allocate(size_t bytes, size_t* rounded_bytes);
  void release(void* ptr, size_t rounded_bytes);
  void empty_cache();
  AllocatorStats stats() const;

  // Size classes: multiples of 512 B up to 1 MiB, then four classes per power of two.
  static size_t round_size(size_t bytes);

 private:
  const char* device_name_;
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_lists_;
  AllocatorStats stats_;
};

}  // namespace hgc
