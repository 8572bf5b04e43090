// The GEMM epilogue shared by the f32 and tensor-core kernels: v = act(acc + bias) + residual, in f32,
// the CPU backend's order (src/native/cpu/gemm.cc). Formulas chosen so NaN propagates and large |x| gives
// ±0 or x without overflow trouble (x / (1 + exp(-kx)) → x / inf = -0 for very negative x).
#pragma once
#include "hgc/op_args.h"
#include "mma_tile.cuh"


namespace hgc::cuda {

__device__ __forceinline__ float gemm_activation(float x, int act) {
  switch (act) {
    case int(Activation::GeluErf):
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case int(Activation::GeluTanh): {  // 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u))
      const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return x / (1.0f + expf(-2.0f * u));
    }
    case int(Activation::Silu):
      return x / (1.0f + expf(-x));
    case int(Activation::QuickGelu):
      return x / (1.0f + expf(-1.702f * x));
    default:
      return x;
  }
}

}  // namespace hgc::cuda
