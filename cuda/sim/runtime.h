// The CUDA runtime subset of the simulator: vector types, dim3, error codes, memory (host memory), streams
// and events (synchronous), stream capture into graphs and graph replay (cuda/sim/capture.cc), function
// attributes and a fake sm_80-like device.
//
// Everything is declared in namespace hgc::sim and brought into the global namespace with using-declarations,
// so the symbols of this build (hgc::sim::cudaMalloc, hgc::sim::dim3, ...) can never clash with the real CUDA
// runtime that the nvcc build links into the same addon.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hgc::sim {

struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoDevice = 100,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorLaunchFailure = 719,
  cudaErrorIllegalState = 401,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureImplicit = 906,
  cudaErrorStreamCaptureWrongThread = 908,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

enum cudaDeviceAttr {
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMultiProcessorCount = 16,
};

struct SimStream;
struct SimEvent;
struct SimGraph;
struct SimGraphExec;
using cudaStream_t = SimStream*;
using cudaEvent_t = SimEvent*;
using cudaGraph_t = SimGraph*;
using cudaGraphExec_t = SimGraphExec*;

// Stream capture (the CUDA semantics, see capture.cc): which potentially unsafe calls a capture forbids.
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};

// The fields of cudaDeviceProp that code here may read.
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  size_t sharedMemPerMultiprocessor;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major;
  int minor;
  int multiProcessorCount;
  int l2CacheSize;
};

// Limits of the simulated device (an sm_80/sm_90-like part): 48 KB of shared memory per block by default,
// up to 227 KB when the kernel opts in through cudaFuncSetAttribute.
constexpr size_t kDefaultSmemPerBlock = 48 * 1024;
constexpr size_t kMaxSmemPerBlockOptin = 227 * 1024;
constexpr unsigned kMaxThreadsPerBlock = 1024;

cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) { return cudaMalloc(reinterpret_cast<void**>(ptr), bytes); }
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode* mode);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t err);
const char* cudaGetErrorString(cudaError_t err);

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);

// Per-kernel attributes, keyed by the kernel's address.
cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value);
size_t max_dynamic_smem(const void* kernel);  // kDefaultSmemPerBlock unless the kernel opted in
template <typename F>
cudaError_t cudaFuncSetAttribute(F* kernel, cudaFuncAttribute attr, int value) {
  return func_set_attribute(reinterpret_cast<const void*>(kernel), attr, value);
}

}  // namespace hgc::sim

using hgc::sim::cudaDeviceAttr;
using hgc::sim::cudaDeviceProp;
using hgc::sim::cudaError;
using hgc::sim::cudaError_t;
using hgc::sim::cudaEvent_t;
using hgc::sim::cudaFuncAttribute;
using hgc::sim::cudaMemcpyKind;
using hgc::sim::cudaGraph_t;
using hgc::sim::cudaGraphExec_t;
using hgc::sim::cudaStream_t;
using hgc::sim::cudaStreamCaptureMode;
using hgc::sim::cudaStreamCaptureStatus;
using hgc::sim::dim3;
using hgc::sim::float2;
using hgc::sim::float4;
using hgc::sim::int2;
using hgc::sim::int4;
using hgc::sim::make_float2;
using hgc::sim::make_float4;
using hgc::sim::uint2;
using hgc::sim::uint3;
using hgc::sim::uint4;
// Enumerators, as the real headers make them visible.
using hgc::sim::cudaDevAttrComputeCapabilityMajor;
using hgc::sim::cudaDevAttrComputeCapabilityMinor;
using hgc::sim::cudaDevAttrMaxSharedMemoryPerBlockOptin;
using hgc::sim::cudaDevAttrMultiProcessorCount;
using hgc::sim::cudaErrorInsufficientDriver;
using hgc::sim::cudaErrorInvalidConfiguration;
using hgc::sim::cudaErrorInvalidDevice;
using hgc::sim::cudaErrorInvalidValue;
using hgc::sim::cudaErrorLaunchFailure;
using hgc::sim::cudaErrorMemoryAllocation;
using hgc::sim::cudaErrorNoDevice;
using hgc::sim::cudaErrorNoKernelImageForDevice;
using hgc::sim::cudaErrorIllegalState;
using hgc::sim::cudaErrorStreamCaptureImplicit;
using hgc::sim::cudaErrorStreamCaptureInvalidated;
using hgc::sim::cudaErrorStreamCaptureUnsupported;
using hgc::sim::cudaErrorStreamCaptureWrongThread;
using hgc::sim::cudaStreamCaptureModeGlobal;
using hgc::sim::cudaStreamCaptureModeRelaxed;
using hgc::sim::cudaStreamCaptureModeThreadLocal;
using hgc::sim::cudaStreamCaptureStatusActive;
using hgc::sim::cudaStreamCaptureStatusInvalidated;
using hgc::sim::cudaStreamCaptureStatusNone;
using hgc::sim::cudaFuncAttributeMaxDynamicSharedMemorySize;
using hgc::sim::cudaFuncAttributePreferredSharedMemoryCarveout;
using hgc::sim::cudaMemcpyDefault;
using hgc::sim::cudaMemcpyDeviceToDevice;
using hgc::sim::cudaMemcpyDeviceToHost;
using hgc::sim::cudaMemcpyHostToDevice;
using hgc::sim::cudaMemcpyHostToHost;
using hgc::sim::cudaSuccess;
// Functions.
using hgc::sim::cudaDeviceGetAttribute;
using hgc::sim::cudaDeviceSynchronize;
using hgc::sim::cudaEventCreate;
using hgc::sim::cudaEventDestroy;
using hgc::sim::cudaEventElapsedTime;
using hgc::sim::cudaEventRecord;
using hgc::sim::cudaEventSynchronize;
using hgc::sim::cudaFree;
using hgc::sim::cudaFuncSetAttribute;
using hgc::sim::cudaGetDevice;
using hgc::sim::cudaGetDeviceCount;
using hgc::sim::cudaGetDeviceProperties;
using hgc::sim::cudaGetErrorName;
using hgc::sim::cudaGetErrorString;
using hgc::sim::cudaGetLastError;
using hgc::sim::cudaMalloc;
using hgc::sim::cudaMemcpy;
using hgc::sim::cudaMemcpyAsync;
using hgc::sim::cudaMemset;
using hgc::sim::cudaMemsetAsync;
using hgc::sim::cudaPeekAtLastError;
using hgc::sim::cudaSetDevice;
using hgc::sim::cudaStreamCreate;
using hgc::sim::cudaStreamDestroy;
using hgc::sim::cudaStreamSynchronize;
using hgc::sim::cudaStreamBeginCapture;
using hgc::sim::cudaStreamEndCapture;
using hgc::sim::cudaStreamIsCapturing;
using hgc::sim::cudaThreadExchangeStreamCaptureMode;
using hgc::sim::cudaGraphInstantiate;
using hgc::sim::cudaGraphLaunch;
using hgc::sim::cudaGraphExecDestroy;
using hgc::sim::cudaGraphDestroy;
