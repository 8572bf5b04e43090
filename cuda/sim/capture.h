// Internal hooks between the simulator's runtime calls (runtime.cc) and stream capture (capture.cc).
#pragma once
#include <cstddef>

#include "runtime.h"

namespace hgc::sim::detail {

// Remembers a failed call's error for cudaGetLastError (the sticky-free error state) and returns it.
cudaError_t record_error(cudaError_t e);

// cudaErrorStreamCaptureUnsupported when the calling thread may not make a potentially unsafe call (cudaMalloc,
// cudaFree, synchronous copies and memsets, device and event synchronisation) now: it has a capture of its own
// not begun in relaxed mode, or its interaction mode is global and another thread has a global capture. The
// captures concerned are invalidated. cudaSuccess otherwise.
cudaError_t check_unsafe_call();

// cudaErrorStreamCaptureImplicit when work on the legacy default stream would have to wait for a capturing
// stream (all simulated streams are blocking streams); that capture is invalidated. cudaSuccess otherwise.
cudaError_t check_legacy_stream();

// For cudaMemcpyAsync / cudaMemsetAsync on `stream`: cudaSuccess with *recorded = true when the stream captures
// (the operation became a graph node), cudaSuccess with *recorded = false when it should run now, or the error.
cudaError_t record_memcpy(cudaStream_t stream, void* dst, const void* src, size_t bytes, bool* recorded);
cudaError_t record_memset(cudaStream_t stream, void* dst, int value, size_t bytes, bool* recorded);

}  // namespace hgc::sim::detail
