// The simulator's stream-capture rules at the runtime API (capture.cc), for test/cuda-sim-rules.test.ts through
// native.simSelfTest('capture'): returns the error codes and memory values of a fixed script, documented inline.
#include <thread>
#include <vector>

#include "launch.h"
#include "runtime.h"
#include "selftest.h"

namespace hgc::sim_selftest {
namespace {

using namespace hgc::sim;

// A one-thread kernel adding 1 to d[0], launched (or recorded) on `s` through the seam cuda/launch.cuh uses.
void add_one(cudaStream_t s, float* d) {
  static const char kernel_key = 0;
  auto body = [d] { d[0] += 1.0f; };
  if (!record_launch(s, "add_one", &kernel_key, dim3(1), dim3(1), 0, body))
    launch("add_one", &kernel_key, dim3(1), dim3(1), 0, KernelBody(body));
}

float code(cudaError_t e) { return float(int(e)); }

}  // namespace

std::vector<float> capture() {
  std::vector<float> r;
  float* d = nullptr;
  float* d2 = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&d), 4 * sizeof(float));
  cudaMalloc(reinterpret_cast<void**>(&d2), 4 * sizeof(float));
  cudaMemset(d, 0, 4 * sizeof(float));
  cudaMemset(d2, 0, 4 * sizeof(float));
  d[0] = 1.0f;  // device memory is host memory in the simulator
  cudaStream_t s = nullptr;
  cudaStreamCreate(&s);
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  cudaGraph_t g = nullptr;
  cudaGraphExec_t exec = nullptr;

  // [0..3] The legacy stream cannot capture; a stream captures once at a time; the status says so.
  r.push_back(code(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeThreadLocal)));  // 900
  r.push_back(code(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal)));        // 0
  r.push_back(code(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal)));        // 401
  cudaStreamIsCapturing(s, &st);
  r.push_back(float(st));                                                                 // 1
  // [4..6] Launches and async copies are recorded, not run.
  add_one(s, d);
  r.push_back(code(cudaMemcpyAsync(d2, d, sizeof(float), cudaMemcpyDeviceToDevice, s)));  // 0
  r.push_back(d[0]);                                                                        // 1: not run
  r.push_back(d2[0]);                                                                       // 0: not copied
  // [7..10] End, instantiate, launch twice: the nodes run in order each time.
  r.push_back(code(cudaStreamEndCapture(s, &g)));  // 0
  const cudaError_t inst = cudaGraphInstantiate(&exec, g, 0);
  r.push_back(code(inst) + code(cudaGraphDestroy(g)));  // 0
  cudaGraphLaunch(exec, s);
  r.push_back(d[0] * 10 + d2[0]);  // 22
  cudaGraphLaunch(exec, s);
  r.push_back(d[0] * 10 + d2[0]);  // 33

  // [11..15] A potentially unsafe call in a thread-local capture fails and invalidates it; work on the stream then
  // fails; ending returns Invalidated and no graph; the stream is usable again.
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  void* p = nullptr;
  r.push_back(code(cudaMalloc(&p, 16)));  // 900
  cudaStreamIsCapturing(s, &st);
  r.push_back(float(st));  // 2
  float thrown = 0;
  try {
    add_one(s, d);
  } catch (const std::exception&) {
    thrown = 1;
  }
  r.push_back(thrown);                                 // 1
  g = reinterpret_cast<cudaGraph_t>(&r);               // must be reset
  r.push_back(code(cudaStreamEndCapture(s, &g)) + (g == nullptr ? 0.5f : 0.0f));  // 901.5
  cudaStreamIsCapturing(s, &st);
  r.push_back(float(st));  // 0

  // [16..18] Relaxed interaction mode: cudaMalloc is allowed (what the allocator does); restored, it is not.
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  cudaThreadExchangeStreamCaptureMode(&mode);
  const cudaError_t relaxed_malloc = cudaMalloc(&p, 16);
  r.push_back(code(relaxed_malloc) + code(cudaFree(p)));  // 0
  cudaThreadExchangeStreamCaptureMode(&mode);
  r.push_back(float(mode));                         // 2: the relaxed mode came back
  r.push_back(code(cudaMemset(d, 0, 4)));           // 900
  cudaStreamEndCapture(s, &g);
  cudaGetLastError();

  // [19..20] The legacy stream during a capture: implicit dependency; synchronising the capturing stream.
  cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  r.push_back(code(cudaMemsetAsync(d2, 0, 4, nullptr)));  // 906
  cudaStreamEndCapture(s, &g);
  cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  r.push_back(code(cudaStreamSynchronize(s)));  // 900
  cudaStreamEndCapture(s, &g);
  cudaGetLastError();

  // [21..24] Threads: a thread-local capture ends only on its thread; another thread's unsafe calls are refused
  // only for a global-mode capture (that thread's mode is global by default).
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  cudaError_t other_end = cudaSuccess, other_malloc = cudaSuccess;
  std::thread([&] {
    cudaGraph_t og = nullptr;
    other_end = cudaStreamEndCapture(s, &og);
    void* q = nullptr;
    other_malloc = cudaMalloc(&q, 16);
    if (other_malloc == cudaSuccess) cudaFree(q);
  }).join();
  r.push_back(code(other_end));     // 908
  r.push_back(code(other_malloc));  // 0
  const cudaError_t own_end = cudaStreamEndCapture(s, &g);
  r.push_back(code(own_end) + code(cudaGraphDestroy(g)));  // 0
  cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
  std::thread([&] { other_malloc = cudaMalloc(&p, 16); }).join();
  r.push_back(code(other_malloc));  // 900
  cudaStreamEndCapture(s, &g);       // invalidated by the other thread's call
  cudaGetLastError();

  // [25..26] A graph launched into a capture becomes part of it.
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  r.push_back(code(cudaGraphLaunch(exec, s)));  // 0
  cudaGraph_t g2 = nullptr;
  cudaGraphExec_t exec2 = nullptr;
  cudaStreamEndCapture(s, &g2);
  cudaGraphInstantiate(&exec2, g2, 0);
  cudaGraphLaunch(exec2, s);
  r.push_back(d[0] * 10 + d2[0]);  // 44

  cudaGraphExecDestroy(exec2);
  cudaGraphDestroy(g2);
  cudaGraphExecDestroy(exec);
  cudaStreamDestroy(s);
  cudaFree(d);
  cudaFree(d2);
  cudaGetLastError();
  return r;
}

}  // namespace hgc::sim_selftest
