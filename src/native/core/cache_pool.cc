#include "hgc/cache_pool.h"

namespace hgc {

void CachePool::drop_entry(std::map<std::string, Entry>::iterator it) {
  std::shared_ptr<Storage> storage = it->second.tensor.storage;
  in_entries_ -= storage->bytes();
  entries_.erase(it);
  // Reuse the buffer later only if nobody outside the pool still holds it.
  if (storage.use_count() == 1) {
    free_.push_back(std::move(storage));
    in_free_ += free_.back()->bytes();
  }
}

bool CachePool::make_room(size_t bytes, const std::string& keep_key) {
  if (bytes > budget_) return false;
  while (held() + bytes > budget_ && !free_.empty()) {
    in_free_ -= free_.front()->bytes();
    free_.pop_front();
  }
  while (held() + bytes > budget_) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.pinned || it->first == keep_key) continue;
      if (victim == entries_.end() || it->second.last_use < victim->second.last_use) victim = it;
    }
    if (victim == entries_.end()) return false;
    counters_.evictions++;
    drop_entry(victim);
    while (!free_.empty()) {  // an evicted buffer only helps if it is given back
      in_free_ -= free_.front()->bytes();
      free_.pop_front();
    }
  }
  return true;
}

bool CachePool::put(const std::string& key, const Tensor& t, bool pinned) {
  const size_t bytes = t.nbytes();
  auto existing = entries_.find(key);
  if (existing != entries_.end()) drop_entry(existing);
  // A freed buffer of the same size on the same device avoids both the allocator and the budget check.
  std::shared_ptr<Storage> buffer;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if ((*it)->bytes() == bytes && &(*it)->backend() == &t.backend()) {
      buffer = *it;
      in_free_ -= bytes;
      free_.erase(it);
      counters_.buffer_reuses++;
      break;
    }
  }
  if (!buffer) {
    if (!make_room(bytes, key)) {
      counters_.rejected++;
      return false;
    }
    buffer = std::make_shared<Storage>(t.backend(), bytes);
  }
  if (bytes) t.backend().copy_device(buffer->data(), t.raw(), bytes);
  Entry e;
  e.tensor.storage = buffer;
  e.tensor.shape = t.shape;
  e.tensor.dtype = t.dtype;
  e.pinned = pinned;
  e.last_use = ++clock_;
  entries_[key] = std::move(e);
  in_entries_ += bytes;
  if (held() > peak_) peak_ = held();
  return true;
}

bool CachePool::get(const std::string& key, Tensor* out) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    counters_.misses++;
    return false;
  }
  counters_.hits++;
  it->second.last_use = ++clock_;
  *out = it->second.tensor;
  return true;
}

bool CachePool::release(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  drop_entry(it);
  return true;
}

void CachePool::clear() {
  entries_.clear();
  free_.clear();
  in_entries_ = in_free_ = 0;
}

CachePoolStats CachePool::stats() const {
  CachePoolStats s = counters_;
  s.budget = budget_;
  s.bytes_held = held();
  s.bytes_in_entries = in_entries_;
  s.peak_bytes_held = peak_;
  s.entries = entries_.size();
  return s;
}

std::vector<std::string> CachePool::keys() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.first);
  return out;
}

}  // namespace hgc
