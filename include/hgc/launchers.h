// The launcher table of a backend: one entry per op family, raw pointers only. Null = not implemented.
#pragma once
#include <cstdint>

#include "hgc/dtype.h"
#include "hgc/op_args.h"

namespace hgc {

struct Launchers {
  void (*fill)(void* dst, DType dtype, int64_t n, float value) = nullptr;
  void (*randn)(void* dst, DType dtype, int64_t n, uint64_t seed) = nullptr;
  void (*cast)(const void* src, DType from, void* dst, DType to, int64_t n) = nullptr;
  void (*strided_copy)(const StridedCopyArgs&) = nullptr;

  void (*gemm)(const GemmArgs&) = nullptr;
  // f16/bf16 storage with f32 accumulation (tensor cores). Optional: without it, matmul converts
  // half-precision operands to f32 and calls `gemm`.
  void (*gemm_half)(const GemmHalfArgs&) = nullptr;
  void (*conv2d)(const Conv2dArgs&) = nullptr;
  void (*attention)(const AttentionArgs&) = nullptr;
  // f16/bf16 storage (tensor cores on the half data directly). Optional: without it, attention converts
  // half-precision tensors to f32 and calls `attention`.
  void (*attention_half)(const AttentionHalfArgs&) = nullptr;
  void (*group_norm)(const GroupNormArgs&) = nullptr;
  void (*layer_norm)(const LayerNormArgs&) = nullptr;
  void (*binary)(const BinaryArgs&) = nullptr;
  void (*unary)(const UnaryArgs&) = nullptr;
  void (*geglu)(const GegluArgs&) = nullptr;
  void (*softmax)(const SoftmaxArgs&) = nullptr;
  void (*upsample2x)(const Upsample2xArgs&) = nullptr;
  void (*timestep_embedding)(const TimestepEmbeddingArgs&) = nullptr;
  double (*reduce)(const ReduceArgs&) = nullptr;

  // Scratch bytes `conv2d` / `conv2d_half` need in their args' scratch (null: none).
  int64_t (*conv2d_scratch_bytes)(const Conv2dSizes&) = nullptr;
  // f16/bf16 tensors without the f32 round trip (optional: without it the entry converts to f32 and back).
  void (*conv2d_half)(const Conv2dHalfArgs&) = nullptr;
  // Whether `conv2d` applies Conv2dArgs' GroupNorm (+ SiLU) itself.
  bool conv2d_fuses_group_norm = false;
};

}  // namespace hgc
