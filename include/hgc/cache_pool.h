// The cache buffer pool: holds features and attention maps across denoising steps under a byte budget.
// put() copies a tensor into a pool-owned buffer on the tensor's device (reusing a freed buffer of the same
// size when one is free); get() returns a tensor sharing that buffer. When a put would exceed the budget,
// free buffers are dropped first, then unpinned entries are evicted (least recently used first); if that is
// still not enough the put fails and the caller computes instead. A buffer still referenced outside the pool
// is never reused, so a tensor obtained from get() never changes under its owner.
#pragma once
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hgc/tensor.h"

namespace hgc {

struct CachePoolStats {
  size_t budget = 0;
  size_t bytes_held = 0;      // entries + free buffers
  size_t bytes_in_entries = 0;
  size_t peak_bytes_held = 0;
  uint64_t entries = 0;
  uint64_t hits = 0, misses = 0;        // get() found / did not find the key
  uint64_t evictions = 0;               // entries dropped to make room
  uint64_t rejected = 0;                // put() calls that could not fit
  uint64_t buffer_reuses = 0;           // put() served by a freed buffer
};

class CachePool {
 public:
  explicit CachePool(size_t budget_bytes) : budget_(budget_bytes) {}
  bool put(const std::string& key, const Tensor& t, bool pinned);
  bool get(const std::string& key, Tensor* out);
  bool contains(const std::string& key) const { return entries_.count(key) != 0; }
  bool release(const std::string& key);
  void clear();
  void set_budget(size_t budget) { budget_ = budget; }
  CachePoolStats stats() const;
  std::vector<std::string> keys() const;

 private:
  struct Entry {
    Tensor tensor;
    bool pinned = false;
    uint64_t last_use = 0;
  };
  void drop_entry(std::map<std::string, Entry>::iterator it);
  bool make_room(size_t bytes, const std::string& keep_key);
  size_t held() const { return in_entries_ + in_free_; }

  size_t budget_;
  size_t in_entries_ = 0, in_free_ = 0, peak_ = 0;
  uint64_t clock_ = 0;
  std::map<std::string, Entry> entries_;
  std::list<std::shared_ptr<Storage>> free_;  // buffers no longer referenced by any entry or outside owner
  CachePoolStats counters_;
};

}  // namespace hgc
