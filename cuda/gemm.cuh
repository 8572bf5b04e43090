// Host launchers of the GEMM family (include/hgc/op_args.h GemmArgs semantics):
//   gemm       f32 storage, f32 SIMT kernel (cuda/gemm_f32.cu)
//   gemm_half  f16/bf16 storage, tensor cores (mma.sync m16n8k16, f32 accumulate) (cuda/gemm_tc.cu)
#pragma once
#include <cstdlib>
#include <cstring>

#include "hgc/op_args.h"

namespace hgc::cuda {
void gemm(const GemmArgs& args);
void gemm_half(const GemmHalfArgs& args);

// Both kernels come in a 128×128 and a 64×64 block tile. HGC_GEMM_TILE=128 or =64 forces one (tests,
// benchmarks); otherwise `heuristic` (the launcher's choice from the problem size) decides.
inline bool gemm_big_tiles(bool heuristic) {
  const char* forced = std::getenv("HGC_GEMM_TILE");
  if (forced && std::strcmp(forced, "128") == 0) return true;
  if (forced && std::strcmp(forced, "64") == 0) return false;
  return heuristic;
}
}  // namespace hgc::cuda
