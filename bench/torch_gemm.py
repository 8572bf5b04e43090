"""PyTorch side of `npm run bench:gpu` (bench/gpu.ts): times y = x · wᵀ with torch.matmul (cuBLAS) on the same
inputs hgc used and writes y back so the two results can be compared.

Usage: python3 bench/torch_gemm.py SPEC.json. SPEC is a list of {m, k, n, dtype, x, w, y, runs}: x and w are raw
little-endian f32 files ([m, k] and [n, k], values already representable in dtype), y is where the f32 result
goes. Prints one JSON list of {ms} (median over 5 samples of `runs` back-to-back products, CUDA events).
"""
import json
import sys

import numpy as np
import torch

DTYPES = {'f16': torch.float16, 'bf16': torch.bfloat16, 'f32': torch.float32}


def load(path, rows, cols, dtype):
    data = np.fromfile(path, dtype=np.float32).reshape(rows, cols)
    return torch.from_numpy(data).to(device='cuda', dtype=dtype)


def main():
    torch.backends.cuda.matmul.allow_tf32 = False  # f32 stays f32, as in hgc
    spec = json.load(open(sys.argv[1]))
    out = []
    for case in spec:
        dt = DTYPES[case['dtype']]
        x = load(case['x'], case['m'], case['k'], dt)
        w = load(case['w'], case['n'], case['k'], dt)
        y = torch.matmul(x, w.t())
        torch.cuda.synchronize()
        samples = []
        for _ in range(6):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(case['runs']):
                torch.matmul(x, w.t())
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / case['runs'])
        samples = sorted(samples[1:])  # the first sample warms up
        y.float().cpu().numpy().astype(np.float32).tofile(case['y'])
        out.append({'ms': samples[len(samples) // 2]})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
