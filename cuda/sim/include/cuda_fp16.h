// cuda-sim shim: `#include <cuda_fp16.h>` in cuda/*.cu resolves here in the simulator build.
#pragma once
#include "../half.h"
