// A CUDA graph of one backend: what this thread launches between begin() and end() is captured (recorded, not
// run) into a graph, with every allocation made meanwhile served from the graph's private pool
// (include/hgc/allocator.h); launch() replays it. States: idle → capturing → ready, or → failed when the
// capture was impossible (a synchronous copy, a host read-back, ...): the caller then runs the work eagerly.
#pragma once
#include <memory>
#include <string>

#include "hgc/backend.h"

namespace hgc {

class Graph {
 public:
  enum class State { Idle, Capturing, Ready, Failed, Destroyed };

  // Error(DEVICE) when the backend has no graphs (cpu) or is unavailable.
  explicit Graph(Backend& backend);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Idle → Capturing. Error(ARG) in another state or when the backend is capturing another graph; Error(CUDA)
  // when the runtime refuses to start a capture (the graph stays idle).
  void begin();
  // Capturing → Ready. When the capture failed: → Failed and Error(CUDA) with the runtime's reason.
  void end();
  // Capturing → Failed without throwing (after the captured code threw); no effect in other states.
  void abort();
  // Replays the graph (Ready only, else Error(ARG)).
  void launch();
  // → Destroyed: drops the graph and this object's reference to its pool (storages from the pool keep it
  // alive until they go).
  void destroy();

  State state() const { return state_; }
  Backend& backend() const { return backend_; }
  size_t pool_bytes() const;  // bytes reserved by the private pool (0 once destroyed)
  uint64_t launches() const { return launches_; }

 private:
  void finish_capture();

  Backend& backend_;
  State state_ = State::Idle;
  void* exec_ = nullptr;
  std::shared_ptr<PrivatePool> pool_;
  uint64_t launches_ = 0;
};

const char* graph_state_name(Graph::State s);

}  // namespace hgc
