"""PyTorch side of the pointwise section of `npm run bench:gpu` (bench/gpu-pointwise.ts): times each memory-bound
op with PyTorch's own kernels on the same inputs hgc used and writes the result back for the comparison.

Usage: python3 bench/torch_ops.py SPEC.json. SPEC is a list of {op, dtype, params, inputs, y, runs, samples}:
inputs is a list of {file, shape}, raw little-endian f32 files holding values already representable in dtype
(the inputs' dtype); y is where the f32 result goes. Prints one JSON list of {ms}: the median over `samples`
samples (after one warm-up sample) of `runs` back-to-back calls timed with CUDA events.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {'f16': torch.float16, 'bf16': torch.bfloat16, 'f32': torch.float32}


def relative_l1(a, b):
    # Summed in f32 (an f16 sum of 2.6M magnitudes overflows); .item() waits for the result, as hgc's number does.
    return (torch.sum((a - b).abs(), dtype=torch.float32) / torch.sum(b.abs(), dtype=torch.float32)).item()


def geglu(x):
    hidden, gate = x.chunk(2, dim=-1)
    return hidden * F.gelu(gate)


# op name -> f(inputs, params): the same contract as the hgc op of the same row.
OPS = {
    'group_norm_silu': lambda xs, p: F.silu(F.group_norm(xs[0], int(p['groups']), xs[1], xs[2], eps=1e-5)),
    'layer_norm': lambda xs, p: F.layer_norm(xs[0], (xs[0].shape[-1],), xs[1], xs[2], eps=1e-5),
    'softmax': lambda xs, p: torch.softmax(xs[0], dim=-1),
    'add': lambda xs, p: xs[0] + xs[1],
    'gelu': lambda xs, p: F.gelu(xs[0]),
    'geglu': lambda xs, p: geglu(xs[0]),
    'upsample2x': lambda xs, p: F.interpolate(xs[0], scale_factor=2, mode='nearest'),
    'nchw_to_tokens': lambda xs, p: xs[0].reshape(xs[0].shape[0], xs[0].shape[1], -1).permute(0, 2, 1).contiguous(),
    'relative_l1': lambda xs, p: relative_l1(xs[0], xs[1]),
    'cast_f16': lambda xs, p: xs[0].to(torch.float16),
    'sdpa_flash': sdpa_flash,
}


def sdpa_flash(xs, p):
    # q, k, v [B, N, H·d] viewed as [B, H, N, d] (no copy); the flash backend only, as the target names it.
    heads = int(p['heads'])
    q, k, v = (x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2) for x in xs)
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v)


# Layout of a result for the comparison, outside the timed calls: [B, H, N, d] back to hgc's [B, N, H·d].
POST = {
    'sdpa_flash': lambda y: y.transpose(1, 2).reshape(y.shape[0], y.shape[2], -1),
}


def load(spec, dtype):
    data = np.fromfile(spec['file'], dtype=np.float32).reshape(spec['shape'])
    return torch.from_numpy(data).to(device='cuda', dtype=dtype)


def as_f32(y):
    if isinstance(y, float):
        return np.array([y], dtype=np.float32)
    return y.float().cpu().numpy().astype(np.float32)


def main():
    spec = json.load(open(sys.argv[1]))
    out = []
    for case in spec:
        fn = OPS[case['op']]
        xs = [load(s, DTYPES[case['dtype']]) for s in case['inputs']]
        params = case['params']
        y = fn(xs, params)
        torch.cuda.synchronize()
        samples = []
        for _ in range(1 + case['samples']):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(case['runs']):
                fn(xs, params)
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / case['runs'])
        samples = sorted(samples[1:])  # the first sample warms up
        as_f32(POST.get(case['op'], lambda r: r)(y)).tofile(case['y'])
        out.append({'ms': samples[len(samples) // 2]})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
