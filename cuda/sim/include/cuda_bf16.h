// cuda-sim shim: `#include <cuda_bf16.h>` in cuda/*.cu resolves here in the simulator build.
#pragma once
#include "../half.h"
