"""PyTorch side of the conv section of `npm run bench:gpu` (bench/gpu-conv.ts): times the same convolutions with
torch.nn.functional.conv2d (cuDNN) in f16 on channels-last tensors, on the inputs hgc used, and writes the
result back so the two can be compared. A case with `norm` > 0 runs group_norm + SiLU first, as hgc fuses it.

Usage: python3 bench/torch_conv.py SPEC.json. SPEC is a list of {n, cin, hw, cout, k, stride, pad, norm, runs,
x, w, b, y}: x, w and b are raw little-endian f32 files (values representable in f16), y is where the f32
result goes. Prints one JSON list of {ms} (median over 5 samples of `runs` back-to-back calls, CUDA events).
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load(path, shape):
    data = np.fromfile(path, dtype=np.float32).reshape(shape)
    return torch.from_numpy(data).to(device='cuda', dtype=torch.float16)


def main():
    torch.backends.cudnn.benchmark = True
    spec = json.load(open(sys.argv[1]))
    out = []
    for c in spec:
        x = load(c['x'], (c['n'], c['cin'], c['hw'], c['hw'])).to(memory_format=torch.channels_last)
        w = load(c['w'], (c['cout'], c['cin'], c['k'], c['k'])).to(memory_format=torch.channels_last)
        b = load(c['b'], (c['cout'],))

        def run():
            h = F.silu(F.group_norm(x, c['norm'])) if c['norm'] else x
            return F.conv2d(h, w, b, stride=c['stride'], padding=c['pad'])

        y = run()
        torch.cuda.synchronize()
        samples = []
        for _ in range(6):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(c['runs']):
                run()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / c['runs'])
        samples = sorted(samples[1:])  # the first sample warms up (and lets cudnn.benchmark choose)
        y.float().contiguous().cpu().numpy().astype(np.float32).tofile(c['y'])
        out.append({'ms': samples[len(samples) // 2]})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
