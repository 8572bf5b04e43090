// A size-binned caching allocator, one per device. Freed blocks go back to a free list keyed by their
// rounded size and are handed out again before the device allocator is asked; when the device allocator
// fails, the cache is emptied and the request retried once, then OOM is raised as an hgc::Error.
//
// Private pools (CUDA graphs): while a pool is active (a graph is being captured), every allocation is served
// from that pool, whose blocks are never handed to anyone else: a graph bakes in its device pointers, so the
// memory its replays write must stay reserved for as long as the graph exists. Blocks freed during the capture
// return to the pool and may be reused within it (stream order makes that safe). Each storage allocated from a
// pool keeps the pool alive; when the graph and the last such storage are gone, the pool frees every block.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace hgc {

class CachingAllocator;

// The private pool of one graph (see above). Created by CachingAllocator::begin_private_pool.
class PrivatePool {
 public:
  ~PrivatePool();
  PrivatePool(const PrivatePool&) = delete;
  PrivatePool& operator=(const PrivatePool&) = delete;

  size_t bytes_reserved() const;  // all blocks of the pool, in use or free

 private:
  friend class CachingAllocator;
  explicit PrivatePool(CachingAllocator& owner) : owner_(owner) {}

  CachingAllocator& owner_;
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_lists_;
  std::vector<void*> blocks_;
  size_t bytes_ = 0;
};

struct AllocatorStats {
  size_t bytes_in_use = 0;      // handed out to tensors
  size_t bytes_cached = 0;      // held in free lists, ready for reuse
  size_t peak_bytes_in_use = 0;
  uint64_t allocations = 0;     // requests served
  uint64_t cache_hits = 0;      // requests served from the free lists
  uint64_t device_allocations = 0;
  size_t bytes_in_private_pools = 0;  // reserved by graphs' private pools (not part of the two above)
  uint64_t private_pools = 0;         // live private pools
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

  // Returns a block of at least `bytes` bytes (64-byte aligned on the CPU). Throws Error(OOM). While a private
  // pool is active the block comes from it and *pool is set to it (else reset); pass it back to release().
  void* allocate(size_t bytes, size_t* rounded_bytes, std::shared_ptr<PrivatePool>* pool = nullptr);
  void release(void* ptr, size_t rounded_bytes, PrivatePool* pool = nullptr);
  void empty_cache();
  AllocatorStats stats() const;

  // Starts serving every allocation from a new private pool (Error(ARG) when one is already active; a caller
  // that cannot take a pool must pass `pool` to allocate). end_private_pool() stops it; the pool lives on
  // while its graph or any storage from it does.
  std::shared_ptr<PrivatePool> begin_private_pool();
  void end_private_pool();

  // Size classes: multiples of 512 B up to 1 MiB, then four classes per power of two.
  static size_t round_size(size_t bytes);

 private:
  const char* device_name_;
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_lists_;
  AllocatorStats stats_;
  std::shared_ptr<PrivatePool> active_pool_;

  friend class PrivatePool;
  void* allocate_private(PrivatePool& pool, size_t rounded, size_t bytes);
  void raw_free(void* ptr) { raw_free_(ptr); }
  void private_pool_freed(size_t bytes);
};

}  // namespace hgc
