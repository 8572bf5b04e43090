{
  "targets": [
    {
      "target_name": "hgc",
      "sources": [
        "src/native/core/allocator.cc",
        "src/native/core/backends.cc",
        "src/native/core/cache_pool.cc",
        "src/native/core/cuda_unavailable.cc",
        "src/native/core/graph.cc",
        "src/native/core/op_util.cc",
        "src/native/core/ops_attention.cc",
        "src/native/core/ops_linear.cc",
        "src/native/core/ops_pointwise.cc",
        "src/native/core/ops_storage.cc",
        "src/native/core/tensor.cc",
        "src/native/cpu/attention.cc",
        "src/native/cpu/backend_cpu.cc",
        "src/native/cpu/conv2d.cc",
        "src/native/cpu/conv_winograd.cc",
        "src/native/cpu/elementwise.cc",
        "src/native/cpu/fill_cast.cc",
        "src/native/cpu/gemm.cc",
        "src/native/cpu/norm.cc",
        "src/native/cpu/thread_pool.cc",
        "src/native/addon/addon.cc",
        "src/native/addon/args.cc",
        "src/native/addon/bind_compute.cc",
        "src/native/addon/bind_runtime.cc",
        "src/native/addon/bind_sim.cc",
        "src/native/addon/bind_storage.cc",
        "src/native/addon/cache_pool_wrap.cc",
        "src/native/addon/graph_wrap.cc",
        "src/native/addon/guard.cc",
        "src/native/addon/tensor_handle.cc",
        "cuda/sim/block_runner.cc",
        "cuda/sim/capture.cc",
        "cuda/sim/fiber.cc",
        "cuda/sim/half.cc",
        "cuda/sim/launch.cc",
        "cuda/sim/runtime.cc",
        "cuda/sim/selftest_capture.cc",
        "cuda/sim/warp.cc",
        "<!@(node scripts/sim-units.js)"
      ],
      "include_dirs": ["include", "cuda/sim/include", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}
