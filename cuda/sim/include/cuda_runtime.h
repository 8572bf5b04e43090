// cuda-sim shim: `#include <cuda_runtime.h>` in cuda/*.cu resolves here in the simulator build.
#pragma once
#include "../runtime.h"
