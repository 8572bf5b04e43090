// Storage kernels of the cuda backend: fill, Philox normals (same stream as the CPU: include/hgc/philox.h)
// and dtype casts. Grid-stride loops over n elements; f16/bf16 use the shared bit-exact conversions.
#include <cuda_fp16.h>

#include <cstdint>

#include "hgc/dtype.h"
#include "hgc/philox.h"
#include "launch.cuh"
#include "storage_kernels.cuh"

namespace hgc::cuda {
namespace {

__device__ inline void store(void* dst, int dtype, int64_t i, float v) {
  if (dtype == int(DType::F32)) {
    static_cast<float*>(dst)[i] = v;
    return;
  }
  // Same round-to-nearest-even as the host code (dtype.h), so both backends agree bit for bit.
  uint32_t u = __float_as_uint(v);
  uint16_t h;
  if (dtype == int(DType::BF16)) {
    h = ((u & 0x7fffffffu) > 0x7f800000u) ? uint16_t((u >> 16) | 0x40u) : uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  } else if ((u & 0x7fffffffu) > 0x7f800000u) {
    // NaN: keep sign and payload as the host does (cvt.rn.f16.f32 would give the canonical 0x7fff).
    h = uint16_t(((u >> 16) & 0x8000u) | 0x7e00u | ((u >> 13) & 0x3ffu));
  } else {
    h = __half_as_ushort(__float2half_rn(v));
  }
  static_cast<uint16_t*>(dst)[i] = h;
}

__device__ inline float load(const void* src, int dtype, int64_t i) {
  if (dtype == int(DType::F32)) return static_cast<const float*>(src)[i];
  uint16_t h = static_cast<const uint16_t*>(src)[i];
  if (dtype == int(DType::BF16)) return __uint_as_float(uint32_t(h) << 16);
  return __half2float(__ushort_as_half(h));
}

__global__ void fill_kernel(void* dst, int dtype, int64_t n, float value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store(dst, dtype, i, value);
}

__global__ void randn_kernel(void* dst, int dtype, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store(dst, dtype, i, philox_normal(uint64_t(i), seed));
}

__global__ void cast_kernel(const void* src, int from, void* dst, int to, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store(dst, to, i, load(src, from, i));
}

dim3 grid_for(int64_t n) {
  int64_t blocks = (n + 255) / 256;
  return dim3(static_cast<unsigned>(blocks < 65535 ? blocks : 65535));
}

}  // namespace

void fill(void* dst, DType dtype, int64_t n, float value) {
  launch("fill", fill_kernel, grid_for(n), dim3(256), 0, nullptr, dst, int(dtype), n, value);
}

void randn(void* dst, DType dtype, int64_t n, uint64_t seed) {
  launch("randn", randn_kernel, grid_for(n), dim3(256), 0, nullptr, dst, int(dtype), n, seed);
}

void cast(const void* src, DType from, void* dst, DType to, int64_t n) {
  launch("cast", cast_kernel, grid_for(n), dim3(256), 0, nullptr, src, int(from), dst, int(to), n);
}

}  // namespace hgc::cuda
