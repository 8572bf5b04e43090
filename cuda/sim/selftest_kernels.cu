// Kernels that test the simulator and the primitives' documented layouts (compiled only into cuda-sim; see
// selftest.h). The layout code here is written from the tables in cuda/prims.cuh, independently of the
// simulator's gather/scatter, and the JS tests compare the results with plain matrix products and the CUDA
// shuffle rules. The kernels whose names start with "bad_" break a rule on purpose.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "../launch.cuh"
#include "../prims.cuh"
#include "hgc/error.h"
#include "selftest.h"

namespace hgc::cuda {
namespace {

// ---- tensor cores -------------------------------------------------------------------------------------------

__device__ uint16_t to_bits(float v, bool bf16) {
  return bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(v)) : __half_as_ushort(__float2half_rn(v));
}
__device__ uint32_t pack(float lo, float hi, bool bf16) {
  return uint32_t(to_bits(lo, bf16)) | (uint32_t(to_bits(hi, bf16)) << 16);
}

// in: A 16×16 row-major, B 16×8 (k×n) row-major, C 16×8; out: D 16×8.
__global__ void mma_kernel(const float* in, float* out, bool bf16) {
  const float* A = in;
  const float* B = in + 256;
  const float* C = in + 384;
  const unsigned lane = prims::lane_id(), g = lane / 4, t = lane % 4;
  uint32_t a[4], b[2];
  float c[4], d[4];
  a[0] = pack(A[g * 16 + 2 * t], A[g * 16 + 2 * t + 1], bf16);
  a[1] = pack(A[(g + 8) * 16 + 2 * t], A[(g + 8) * 16 + 2 * t + 1], bf16);
  a[2] = pack(A[g * 16 + 2 * t + 8], A[g * 16 + 2 * t + 9], bf16);
  a[3] = pack(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9], bf16);
  b[0] = pack(B[(2 * t) * 8 + g], B[(2 * t + 1) * 8 + g], bf16);
  b[1] = pack(B[(2 * t + 8) * 8 + g], B[(2 * t + 9) * 8 + g], bf16);
  c[0] = C[g * 8 + 2 * t];
  c[1] = C[g * 8 + 2 * t + 1];
  c[2] = C[(g + 8) * 8 + 2 * t];
  c[3] = C[(g + 8) * 8 + 2 * t + 1];
  if (bf16)
    prims::mma_m16n8k16_bf16(d, a, b, c);
  else
    prims::mma_m16n8k16_f16(d, a, b, c);
  out[g * 8 + 2 * t] = d[0];
  out[g * 8 + 2 * t + 1] = d[1];
  out[(g + 8) * 8 + 2 * t] = d[2];
  out[(g + 8) * 8 + 2 * t + 1] = d[3];
}

// ldmatrix: four 8×8 matrices of 16-bit integers (in[m*64 + r*8 + c]) stored in shared memory with a row
// pitch of 24 elements (48 bytes, so rows are not contiguous); out[lane*8 + m*2 + {0,1}] = the lane's
// register m, low and high half.
constexpr int kPitch = 24;
__device__ void ldmatrix_body(const float* in, float* out, int count, bool trans, uint16_t* tile) {
  const unsigned lane = prims::lane_id();
  for (int i = int(lane); i < 4 * 64; i += 32) tile[(i / 8) * kPitch + i % 8] = uint16_t(in[i]);
  prims::sync_warp();
  const uint16_t* row = tile + (lane % (8 * unsigned(count))) * kPitch;
  uint32_t r[4] = {0, 0, 0, 0};
  switch (count * 2 + (trans ? 1 : 0)) {
    case 2: prims::ldmatrix_x1(r, row); break;
    case 3: prims::ldmatrix_x1_trans(r, row); break;
    case 4: prims::ldmatrix_x2(r, row); break;
    case 5: prims::ldmatrix_x2_trans(r, row); break;
    case 8: prims::ldmatrix_x4(r, row); break;
    default: prims::ldmatrix_x4_trans(r, row); break;
  }
  for (int m = 0; m < 4; m++) {
    out[lane * 8 + m * 2] = m < count ? float(r[m] & 0xffffu) : -1.0f;
    out[lane * 8 + m * 2 + 1] = m < count ? float(r[m] >> 16) : -1.0f;
  }
}
__global__ void ldmatrix_static_kernel(const float* in, float* out, int count, bool trans) {
  __shared__ uint16_t tile[32 * kPitch];
  ldmatrix_body(in, out, count, trans, tile);
}
__global__ void ldmatrix_dynamic_kernel(const float* in, float* out, int count, bool trans) {
  HGC_DYN_SMEM(uint16_t, tile);
  ldmatrix_body(in, out, count, trans, tile);
}

// ---- shuffles, ballot, reductions --------------------------------------------------------------------------

// Lanes in `mask` shuffle their input; the others copy it. mode: 0 idx, 1 up, 2 down, 3 xor.
__global__ void shuffle_kernel(const float* in, float* out, int mode, int b, int width, unsigned mask, bool as_int) {
  const unsigned lane = prims::lane_id();
  float v = in[threadIdx.x];
  if (mask >> lane & 1u) {
    if (as_int) {
      int iv = int(v);
      switch (mode) {
        case 0: iv = prims::shfl_idx(mask, iv, b, width); break;
        case 1: iv = prims::shfl_up(mask, iv, unsigned(b), width); break;
        case 2: iv = prims::shfl_down(mask, iv, unsigned(b), width); break;
        default: iv = prims::shfl_xor(mask, iv, b, width); break;
      }
      v = float(iv);
    } else {
      switch (mode) {
        case 0: v = prims::shfl_idx(mask, v, b, width); break;
        case 1: v = prims::shfl_up(mask, v, unsigned(b), width); break;
        case 2: v = prims::shfl_down(mask, v, unsigned(b), width); break;
        default: v = prims::shfl_xor(mask, v, b, width); break;
      }
    }
  }
  out[threadIdx.x] = v;
}

// out[lane*2 + {0,1}] = low and high 16 bits of the ballot (lanes outside the mask write -1).
__global__ void ballot_kernel(const float* in, float* out, unsigned mask) {
  const unsigned lane = prims::lane_id();
  unsigned bits = 0;
  bool inside = mask >> lane & 1u;
  if (inside) bits = prims::ballot(mask, in[lane] != 0.0f);
  out[lane * 2] = inside ? float(bits & 0xffffu) : -1.0f;
  out[lane * 2 + 1] = inside ? float(bits >> 16) : -1.0f;
}

__global__ void warp_reduce_kernel(const float* in, float* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = in[i];
  out[i * 2] = prims::warp_sum(v);
  out[i * 2 + 1] = prims::warp_max(v);
}

// ---- barriers, shared memory, atomics ----------------------------------------------------------------------

// A block tree reduction in dynamic shared memory plus atomics across blocks: out[block] = block sum,
// out[grid] += every element (float atomicAdd), counters[0] = thread count (int atomicAdd), counters[1] =
// max linear index (atomicMax).
__global__ void block_reduce_kernel(const float* in, float* out, int* counters, int n) {
  HGC_DYN_SMEM(float, s);
  const unsigned tid = threadIdx.x, i = blockIdx.x * blockDim.x + tid;
  s[tid] = i < unsigned(n) ? in[i] : 0.0f;
  __syncthreads();
  for (unsigned half = (blockDim.x + 1) / 2, len = blockDim.x; len > 1; len = half, half = (half + 1) / 2) {
    if (tid < len - half) s[tid] += s[tid + half];
    __syncthreads();
  }
  if (tid == 0) out[blockIdx.x] = s[0];
  if (i < unsigned(n)) {
    atomicAdd(out + gridDim.x, in[i]);
    atomicAdd(counters, 1);
    atomicMax(counters + 1, int(i));
  }
}

// Each thread writes its element and reads its neighbour's; `with_barrier` = false is the classic race.
__global__ void neighbour_kernel(const float* in, float* out, bool with_barrier) {
  __shared__ float s[256];
  const unsigned tid = threadIdx.x;
  s[tid] = in[tid];
  if (with_barrier) __syncthreads();
  out[tid] = s[(tid + 1) % blockDim.x];
}

// Reads shared memory nobody wrote: the simulator's poison (NaN).
__global__ void uninitialised_smem_kernel(float* out) {
  __shared__ float s[64];
  HGC_DYN_SMEM(float, d);
  out[threadIdx.x] = s[threadIdx.x];
  out[64 + threadIdx.x] = d[threadIdx.x];
}

// cp.async: each of 32 threads copies 16 bytes (cp_async_16) and 4 more bytes (cp_async_4) into shared
// memory in two groups; mode 0 waits for all, 1 never waits, 2 waits with wait<1> (first group only), 3 uses
// valid = false for the second group. Then every thread reads another thread's data.
__global__ void cp_async_kernel(const float* in, float* out, int mode) {
  HGC_DYN_SMEM(float, s);
  const unsigned tid = threadIdx.x;
  prims::cp_async_16(s + tid * 4, in + tid * 4);
  prims::cp_async_commit();
  prims::cp_async_4(s + 128 + tid, in + 128 + tid, mode != 3);
  prims::cp_async_commit();
  if (mode == 0 || mode == 3) prims::cp_async_wait<0>();
  if (mode == 2) prims::cp_async_wait<1>();
  __syncthreads();
  const unsigned other = (tid + 5) % 32;
  for (int k = 0; k < 4; k++) out[tid * 5 + k] = s[other * 4 + k];
  out[tid * 5 + 4] = s[128 + other];
}

// ---- kernels that break a rule ------------------------------------------------------------------------------

__global__ void bad_divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.0f;
}

__global__ void bad_exit_before_barrier_kernel(float* out) {
  if (threadIdx.x >= 40) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void bad_mask_not_own_kernel(float* out) {
  out[threadIdx.x] = prims::shfl_xor(0x0000ffffu, float(threadIdx.x), 1);
}

__global__ void bad_mask_lanes_exit_kernel(float* out) {
  if (prims::lane_id() >= 16) return;
  out[threadIdx.x] = prims::shfl_xor(0xffffffffu, float(threadIdx.x), 1);
}

__global__ void bad_mask_mismatch_kernel(float* out) {
  // Lanes 0-15 name the whole warp, lanes 16-31 only themselves.
  const unsigned mask = prims::lane_id() < 16 ? 0xffffffffu : 0xffff0000u;
  out[threadIdx.x] = prims::shfl_xor(mask, float(threadIdx.x), 1);
}

__global__ void bad_collectives_differ_kernel(float* out) {
  if (prims::lane_id() < 16)
    out[threadIdx.x] = prims::shfl_xor(0xffffffffu, 1.0f, 1);
  else
    out[threadIdx.x] = float(prims::ballot(0xffffffffu, true));
}

__global__ void bad_warp_vs_barrier_kernel(float* out) {
  if (prims::lane_id() < 16)
    out[threadIdx.x] = prims::shfl_xor(0xffffffffu, 1.0f, 1);
  else
    __syncthreads();
}

// A 48-thread block: warp 1 has 16 lanes. mask 0xffff is right for it; the full mask names missing lanes.
__global__ void partial_warp_kernel(const float* in, float* out, unsigned warp1_mask) {
  const unsigned w = prims::warp_id();
  float v = in[threadIdx.x];
  out[threadIdx.x] = prims::shfl_down(w == 0 ? 0xffffffffu : warp1_mask, v, 1u, w == 0 ? 32 : 16);
}

__global__ void bad_cp_async_global_dst_kernel(float* out, const float* in) {
  __syncthreads();
  if (threadIdx.x == 5) prims::cp_async_4(out, in);
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void bad_ldmatrix_unaligned_kernel(float* out) {
  __shared__ uint16_t tile[32 * 16];
  for (unsigned i = threadIdx.x; i < 32 * 16; i += 32) tile[i] = 0;
  prims::sync_warp();
  uint32_t r[4];
  prims::ldmatrix_x4(r, tile + prims::lane_id() * 16 + 1);
  out[threadIdx.x] = float(r[0]);
}

__global__ void big_static_smem_kernel(float* out) {
  __shared__ float big[13 * 1024];  // 52 KB: over the 48 KB a block may use without opting in
  for (unsigned i = threadIdx.x; i < 13 * 1024; i += blockDim.x) big[i] = float(i);
  __syncthreads();
  out[threadIdx.x] = big[(threadIdx.x * 7) % (13 * 1024)];
}

__global__ void dyn_smem_fill_kernel(float* out, int n) {
  HGC_DYN_SMEM(float, s);
  for (int i = int(threadIdx.x); i < n; i += int(blockDim.x)) s[i] = 1.0f;
  __syncthreads();
  if (threadIdx.x == 0) {
    float sum = 0;
    for (int i = 0; i < n; i++) sum += s[i];
    out[0] = sum;
  }
}

// ---- host side -----------------------------------------------------------------------------------------------

// Device buffers for one test (host memory in the simulator), freed on every path.
struct Buffers {
  std::vector<void*> ptrs;
  ~Buffers() {
    for (void* p : ptrs) cudaFree(p);
  }
  template <typename T>
  T* alloc(size_t n, const T* init = nullptr) {
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, n * sizeof(T) + 16), "selftest alloc");
    ptrs.push_back(p);
    if (init) check_cuda(cudaMemcpy(p, init, n * sizeof(T), cudaMemcpyHostToDevice), "selftest copy");
    return static_cast<T*>(p);
  }
};

std::vector<float> fetch(const float* d, size_t n) {
  std::vector<float> h(n);
  check_cuda(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost), "selftest fetch");
  return h;
}

double param(const std::vector<double>& p, size_t i, double fallback) { return i < p.size() ? p[i] : fallback; }

void need_input(const std::vector<float>& in, size_t n, const std::string& name) {
  check(in.size() >= n, ErrorCode::Arg, "simSelfTest ", name, ": needs ", n, " input values, got ", in.size());
}

}  // namespace

std::vector<float> run_selftest(const std::string& name, const std::vector<float>& in, const std::vector<double>& p) {
  Buffers buf;
  if (name == "mma_f16" || name == "mma_bf16") {
    need_input(in, 512, name);
    const float* din = buf.alloc(512, in.data());
    float* out = buf.alloc<float>(128);
    launch(name.c_str(), mma_kernel, dim3(1), dim3(32), 0, nullptr, din, out, name == "mma_bf16");
    return fetch(out, 128);
  }
  if (name == "ldmatrix") {
    need_input(in, 256, name);
    const int count = int(param(p, 0, 4));
    const bool trans = param(p, 1, 0) != 0, dynamic = param(p, 2, 0) != 0;
    check(count == 1 || count == 2 || count == 4, ErrorCode::Arg, "ldmatrix count must be 1, 2 or 4");
    const float* din = buf.alloc(256, in.data());
    float* out = buf.alloc<float>(256);
    if (dynamic)
      launch("ldmatrix_dynamic", ldmatrix_dynamic_kernel, dim3(1), dim3(32), 32 * kPitch * 2, nullptr, din, out, count, trans);
    else
      launch("ldmatrix_static", ldmatrix_static_kernel, dim3(1), dim3(32), 0, nullptr, din, out, count, trans);
    return fetch(out, 256);
  }
  if (name == "shuffle") {
    const unsigned threads = unsigned(param(p, 5, 32));
    need_input(in, threads, name);
    const float* din = buf.alloc(threads, in.data());
    float* out = buf.alloc<float>(threads);
    launch("shuffle", shuffle_kernel, dim3(1), dim3(threads), 0, nullptr, din, out, int(param(p, 0, 0)),
           int(param(p, 1, 0)), int(param(p, 2, 32)), unsigned(param(p, 3, 4294967295.0)), param(p, 4, 0) != 0);
    return fetch(out, threads);
  }
  if (name == "ballot") {
    need_input(in, 32, name);
    const float* din = buf.alloc(32, in.data());
    float* out = buf.alloc<float>(64);
    launch("ballot", ballot_kernel, dim3(1), dim3(32), 0, nullptr, din, out, unsigned(param(p, 0, 4294967295.0)));
    return fetch(out, 64);
  }
  if (name == "warp_reduce") {
    need_input(in, 64, name);
    const float* din = buf.alloc(64, in.data());
    float* out = buf.alloc<float>(128);
    launch("warp_reduce", warp_reduce_kernel, dim3(2), dim3(32), 0, nullptr, din, out);
    return fetch(out, 128);
  }
  if (name == "block_reduce") {
    const unsigned block = unsigned(param(p, 0, 256));
    const int n = int(in.size());
    check(n > 0 && block > 0, ErrorCode::Arg, "block_reduce needs input");
    const unsigned grid = unsigned((unsigned(n) + block - 1) / block);
    const float* din = buf.alloc(size_t(n), in.data());
    float* out = buf.alloc<float>(grid + 1);
    int* counters = buf.alloc<int>(2);
    check_cuda(cudaMemset(out, 0, (grid + 1) * sizeof(float)), "memset");
    check_cuda(cudaMemset(counters, 0, 2 * sizeof(int)), "memset");
    launch("block_reduce", block_reduce_kernel, dim3(grid), dim3(block), block * sizeof(float), nullptr, din, out,
           counters, n);
    std::vector<float> r = fetch(out, grid + 1);
    int c[2];
    check_cuda(cudaMemcpy(c, counters, sizeof(c), cudaMemcpyDeviceToHost), "fetch");
    r.push_back(float(c[0]));
    r.push_back(float(c[1]));
    return r;
  }
  if (name == "neighbour") {
    const unsigned n = unsigned(in.size());
    check(n >= 1 && n <= 256, ErrorCode::Arg, "neighbour needs 1..256 inputs");
    const float* din = buf.alloc(n, in.data());
    float* out = buf.alloc<float>(n);
    launch("neighbour", neighbour_kernel, dim3(1), dim3(n), 0, nullptr, din, out, param(p, 0, 1) != 0);
    return fetch(out, n);
  }
  if (name == "uninitialised_smem") {
    float* out = buf.alloc<float>(128);
    launch("uninitialised_smem", uninitialised_smem_kernel, dim3(1), dim3(64), 64 * sizeof(float), nullptr, out);
    return fetch(out, 128);
  }
  if (name == "cp_async") {
    need_input(in, 160, name);
    const float* din = buf.alloc(160, in.data());
    float* out = buf.alloc<float>(160);
    launch("cp_async", cp_async_kernel, dim3(1), dim3(32), 160 * sizeof(float), nullptr, din, out, int(param(p, 0, 0)));
    return fetch(out, 160);
  }
  if (name == "partial_warp") {
    need_input(in, 48, name);
    const float* din = buf.alloc(48, in.data());
    float* out = buf.alloc<float>(48);
    launch("partial_warp", partial_warp_kernel, dim3(1), dim3(48), 0, nullptr, din, out, unsigned(param(p, 0, 65535)));
    return fetch(out, 48);
  }
  if (name == "dyn_smem") {
    // params: bytes, opt_in (through hgc::cuda::launch) or a raw simulator launch without opting in.
    const size_t bytes = size_t(param(p, 0, 1024));
    const bool through_launch = param(p, 1, 1) != 0;
    float* out = buf.alloc<float>(1);
    const int n = int(bytes / sizeof(float));
    if (through_launch) {
      launch("dyn_smem", dyn_smem_fill_kernel, dim3(2), dim3(128), bytes, nullptr, out, n);
    } else {
      ::hgc::sim::launch("dyn_smem_raw", reinterpret_cast<const void*>(&dyn_smem_fill_kernel), dim3(1), dim3(128), bytes,
                         ::hgc::sim::KernelBody([&]() { dyn_smem_fill_kernel(out, n); }));
    }
    return fetch(out, 1);
  }
  if (name == "big_static_smem") {
    float* out = buf.alloc<float>(128);
    launch("big_static_smem", big_static_smem_kernel, dim3(1), dim3(128), 0, nullptr, out);
    return fetch(out, 128);
  }
  if (name == "runtime") {
    // The runtime subset: device properties, streams and events, async copies, attributes and error state.
    std::vector<float> r;
    int count = 0, dev = -1, attr = 0;
    cudaDeviceProp prop;
    r.push_back(float(cudaGetDeviceCount(&count)));
    r.push_back(float(count));
    r.push_back(float(cudaGetDevice(&dev)));
    r.push_back(float(dev));
    r.push_back(float(cudaGetDeviceProperties(&prop, 0)));
    r.push_back(float(prop.major * 10 + prop.minor));
    r.push_back(float(prop.sharedMemPerBlock));
    r.push_back(float(prop.sharedMemPerBlockOptin));
    r.push_back(float(prop.warpSize));
    r.push_back(float(cudaDeviceGetAttribute(&attr, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0)));
    r.push_back(float(attr));
    cudaStream_t stream = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    float ms = -1;
    r.push_back(float(cudaStreamCreate(&stream)));
    r.push_back(float(cudaEventCreate(&start)) + float(cudaEventCreate(&stop)));
    r.push_back(float(cudaEventRecord(start, stream)));
    float* d = buf.alloc<float>(8);
    const float host[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float back[8] = {};
    r.push_back(float(cudaMemsetAsync(d, 0, 8 * sizeof(float), stream)));
    r.push_back(float(cudaMemcpyAsync(d, host, 4 * sizeof(float), cudaMemcpyHostToDevice, stream)));
    r.push_back(float(cudaMemcpyAsync(back, d, 8 * sizeof(float), cudaMemcpyDeviceToHost, stream)));
    r.push_back(float(cudaEventRecord(stop, stream)) + float(cudaEventSynchronize(stop)) + float(cudaStreamSynchronize(stream)) +
                float(cudaDeviceSynchronize()));
    r.push_back(float(cudaEventElapsedTime(&ms, start, stop)));
    r.push_back(ms);
    r.push_back(float(cudaEventDestroy(start)) + float(cudaEventDestroy(stop)) + float(cudaStreamDestroy(stream)));
    for (float v : back) r.push_back(v);
    // A rejected attribute sets the error state until cudaGetLastError reads it.
    r.push_back(float(cudaFuncSetAttribute(dyn_smem_fill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 300000)));
    r.push_back(float(cudaPeekAtLastError()));
    r.push_back(float(cudaGetLastError()));
    r.push_back(float(cudaGetLastError()));
    r.push_back(std::strcmp(cudaGetErrorName(cudaErrorInvalidValue), "cudaErrorInvalidValue") == 0 ? 1.0f : 0.0f);
    r.push_back(std::strcmp(cudaGetErrorString(cudaErrorMemoryAllocation), "out of memory") == 0 ? 1.0f : 0.0f);
    r.push_back(float(cudaSetDevice(1)));
    cudaGetLastError();
    return r;
  }
  // Rule breakers: each throws from the launch.
  float* out = buf.alloc<float>(64);
  float* src = buf.alloc<float>(64);
  if (name == "bad_divergent_barrier") {
    launch("bad_divergent_barrier", bad_divergent_barrier_kernel, dim3(2), dim3(64), 0, nullptr, out);
  } else if (name == "bad_exit_before_barrier") {
    launch("bad_exit_before_barrier", bad_exit_before_barrier_kernel, dim3(1), dim3(64), 0, nullptr, out);
  } else if (name == "bad_mask_not_own") {
    launch("bad_mask_not_own", bad_mask_not_own_kernel, dim3(1), dim3(32), 0, nullptr, out);
  } else if (name == "bad_mask_lanes_exit") {
    launch("bad_mask_lanes_exit", bad_mask_lanes_exit_kernel, dim3(1), dim3(32), 0, nullptr, out);
  } else if (name == "bad_mask_mismatch") {
    launch("bad_mask_mismatch", bad_mask_mismatch_kernel, dim3(1), dim3(32), 0, nullptr, out);
  } else if (name == "bad_collectives_differ") {
    launch("bad_collectives_differ", bad_collectives_differ_kernel, dim3(1), dim3(32), 0, nullptr, out);
  } else if (name == "bad_warp_vs_barrier") {
    launch("bad_warp_vs_barrier", bad_warp_vs_barrier_kernel, dim3(1), dim3(32), 0, nullptr, out);
  } else if (name == "bad_cp_async_global_dst") {
    launch("bad_cp_async_global_dst", bad_cp_async_global_dst_kernel, dim3(3), dim3(32), 0, nullptr, out,
           static_cast<const float*>(src));
  } else if (name == "bad_ldmatrix_unaligned") {
    launch("bad_ldmatrix_unaligned", bad_ldmatrix_unaligned_kernel, dim3(1), dim3(32), 0, nullptr, out);
  } else if (name == "bad_block_shape") {
    launch("bad_block_shape", bad_divergent_barrier_kernel, dim3(1), dim3(2048), 0, nullptr, out);
  } else {
    fail(ErrorCode::Arg, "simSelfTest: unknown test '", name, "'");
  }
  return fetch(out, 64);
}

}  // namespace hgc::cuda

namespace hgc::sim_selftest {
std::vector<float> run(const std::string& name, const std::vector<float>& input, const std::vector<double>& params) {
  if (name == "capture") return capture();
  return ::hgc::cuda::run_selftest(name, input, params);
}
}  // namespace hgc::sim_selftest
