#include "hgc/graph.h"

#include "hgc/error.h"

namespace hgc {

const char* graph_state_name(Graph::State s) {
  switch (s) {
    case Graph::State::Idle: return "idle";
    case Graph::State::Capturing: return "capturing";
    case Graph::State::Ready: return "ready";
    case Graph::State::Failed: return "failed";
    case Graph::State::Destroyed: return "destroyed";
  }
  return "unknown";
}

Graph::Graph(Backend& backend) : backend_(backend) {
  check(backend.available, ErrorCode::Device, "device '", backend.name, "' is not available: ", backend.reason);
  check(backend.graph.begin_capture != nullptr, ErrorCode::Device, "CUDA graphs are not supported on device '",
        backend.name, "'");
}

Graph::~Graph() {
  abort();
  destroy();
}

void Graph::begin() {
  check(state_ == State::Idle, ErrorCode::Arg, "graph capture: the graph is ", graph_state_name(state_),
        ", only an idle graph can begin a capture");
  pool_ = backend_.allocator->begin_private_pool();  // Error(ARG) when another capture is under way
  try {
    backend_.graph.begin_capture();
  } catch (...) {
    backend_.allocator->end_private_pool();
    pool_.reset();
    throw;
  }
  state_ = State::Capturing;
}

void Graph::finish_capture() {
  backend_.allocator->end_private_pool();
  try {
    exec_ = backend_.graph.end_capture();
    state_ = State::Ready;
  } catch (...) {
    state_ = State::Failed;
    throw;
  }
}

void Graph::end() {
  check(state_ == State::Capturing, ErrorCode::Arg, "graph capture: end() on a graph that is ",
        graph_state_name(state_));
  finish_capture();
}

void Graph::abort() {
  if (state_ != State::Capturing) return;
  try {
    finish_capture();
  } catch (const Error&) {
    // the capture was already invalidated: its reason was reported by the call that failed
  }
  if (exec_) backend_.graph.destroy(exec_);
  exec_ = nullptr;
  state_ = State::Failed;
}

void Graph::launch() {
  check(state_ == State::Ready, ErrorCode::Arg, "graph launch: the graph is ", graph_state_name(state_));
  backend_.graph.launch(exec_);
  launches_++;
}

void Graph::destroy() {
  abort();
  if (exec_) backend_.graph.destroy(exec_);
  exec_ = nullptr;
  pool_.reset();
  state_ = State::Destroyed;
}

size_t Graph::pool_bytes() const { return pool_ ? pool_->bytes_reserved() : 0; }

}  // namespace hgc
