// conv2d against a float64 reference: kernel 1/3/5, stride 1/2, padding, bias, residual, odd sizes.
// The CUDA backends (cuda, cuda-sim) multiply f16-rounded operands with f32 accumulation (tensor cores,
// docs/kernels-and-simulator.md): they are held to a naive float64 convolution of the f16-rounded inputs
// (the same-precision reference) at f32 accuracy, and to the exact float64 reference at f16 accuracy.
import t from 'tap';

import { countMacs, ops, tensor, zeros } from '../dist/src/index.js';
import { isSim, normError, randomArray, refConv2d, sameUnderSimSchedules, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });

/** Values rounded to f16 and back (round to nearest even, the CPU's conversion). */
const roundF16 = (v: Float32Array) => tensor(v, [v.length]).cast('f16').cast('f32').data() as Float32Array;

/** GroupNorm (+ SiLU) in float64 over x [n, c, spatial], rounded to f32 as the op stores it. */
function refGroupNorm(x: Float32Array, n: number, c: number, spatial: number, groups: number, eps: number,
  gamma?: Float32Array, beta?: Float32Array, silu = false): Float32Array {
  const out = new Float32Array(x.length), len = (c / groups) * spatial;
  for (let g = 0; g < n * groups; g++) {
    let s = 0, s2 = 0;
    for (let i = 0; i < len; i++) s += x[g * len + i]!;
    const mean = s / len;
    for (let i = 0; i < len; i++) s2 += (x[g * len + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(s2 / len + eps);
    for (let i = 0; i < len; i++) {
      const ch = (g % groups) * (c / groups) + Math.floor(i / spatial);
      let v = (x[g * len + i]! - mean) * rstd * (gamma ? gamma[ch]! : 1) + (beta ? beta[ch]! : 0);
      if (silu) v = v / (1 + Math.exp(-v));
      out[g * len + i] = v;
    }
  }
  return out;
}

const CASES: number[][] = [
  // [n, cin, h, w, cout, k, stride, pad]
  [1, 3, 7, 9, 5, 3, 1, 1], [2, 4, 8, 8, 6, 3, 2, 1], [1, 5, 11, 6, 3, 1, 1, 0], [1, 2, 9, 9, 4, 5, 1, 2],
  [1, 8, 5, 5, 8, 3, 1, 0], [2, 3, 10, 7, 2, 3, 2, 0], [1, 16, 16, 16, 17, 3, 1, 1], [1, 1, 1, 1, 1, 1, 1, 0],
  [1, 6, 7, 7, 9, 1, 2, 0], [1, 33, 12, 12, 40, 3, 1, 1], [2, 24, 8, 8, 40, 3, 1, 1], [2, 19, 7, 9, 70, 3, 2, 2],
  [1, 20, 9, 8, 24, 1, 1, 0], [2, 12, 7, 9, 33, 3, 2, 1],
  // Enough pixels and channels for the GPU's 128×128 tiles, with tails in both (1 image of 48×48, 136 channels).
  [1, 10, 48, 48, 136, 3, 1, 1],
];

for (const device of testDevices('conv2d')) {
  const opts = { device: device as 'cpu' };
  const half = device === 'cuda' || isSim(device);
  t.test(`conv2d on ${device}`, async (t) => {
    let seed = 100;
    for (const [n, cin, h, w, cout, k, stride, pad] of CASES as [number, number, number, number, number, number, number, number][]) {
      const x = randomArray(n * cin * h * w, seed++), wt = randomArray(cout * cin * k * k, seed++), b = randomArray(cout, seed++);
      const ref = refConv2d(x, wt, [n, cin, h, w], [cout, cin, k, k], stride, pad, b);
      const res = randomArray(ref.out.length, seed++);
      const refRes = refConv2d(x, wt, [n, cin, h, w], [cout, cin, k, k], stride, pad, b, res);
      const X = tensor(x, [n, cin, h, w], opts), W = tensor(wt, [cout, cin, k, k], opts), B = tensor(b, [cout], opts);
      const y = ops.conv2d(X, W, { stride, padding: pad, bias: B });
      t.same(y.shape, ref.shape);
      const y2 = ops.conv2d(X, W, { stride, padding: pad, bias: B, residual: tensor(res, ref.shape, opts) });
      const label = [n, cin, h, w, cout, k, stride, pad].join(',');
      const err = normError(y.data() as Float32Array, ref.out), err2 = normError(y2.data() as Float32Array, refRes.out);
      if (!half) {
        t.ok(err < 2e-6 && err2 < 2e-6, `${label}: error ${err}, with residual ${err2}`);
        continue;
      }
      const xh = roundF16(x), wh = roundF16(wt);
      const same = refConv2d(xh, wh, [n, cin, h, w], [cout, cin, k, k], stride, pad, b);
      const sameRes = refConv2d(xh, wh, [n, cin, h, w], [cout, cin, k, k], stride, pad, b, res);
      const e = normError(y.data() as Float32Array, same.out), e2 = normError(y2.data() as Float32Array, sameRes.out);
      t.ok(e < 2e-6 && e2 < 2e-6, `${label}: error against the f16-operand reference ${e}, with residual ${e2}`);
      t.ok(err < 2e-3 && err2 < 2e-3, `${label}: error against the exact reference ${err}, with residual ${err2}`);
    }
    const noBias = ops.conv2d(tensor([1, 2, 3, 4], [1, 1, 2, 2], opts), tensor([1], [1, 1, 1, 1], opts));
    t.same(Array.from(noBias.data()), [1, 2, 3, 4]);
    const h16 = ops.conv2d(zeros([1, 2, 4, 4], { ...opts, dtype: 'f16' }), zeros([3, 2, 3, 3], { ...opts, dtype: 'f16' }), { padding: 1 });
    t.equal(h16.dtype, 'f16');
    t.same(Array.from(h16.data()), new Array(3 * 16).fill(0));
    // NaN reaches exactly the outputs whose window covers it (here all four, kernel 2 with padding 1 on 2×2).
    const nan = ops.conv2d(tensor([NaN, 0, 0, 0], [1, 1, 2, 2], opts), tensor([1, 1, 1, 1], [1, 1, 2, 2], opts)).data();
    t.ok(Number.isNaN(nan[0]!), 'NaN propagates');
    const noInput = ops.conv2d(zeros([1, 0, 2, 2], opts), zeros([2, 0, 1, 1], opts), { bias: tensor([1, 2], [2], opts) });
    t.same(Array.from(noInput.data()), [1, 1, 1, 1, 2, 2, 2, 2], 'no input channels: bias only');
    t.same(ops.conv2d(zeros([0, 3, 3, 3], opts), zeros([2, 3, 3, 3], opts), { norm: { groups: 3 } }).shape, [0, 2, 1, 1]);
    // Documented limit of the f16 operands: values beyond ±65504 overflow on the CUDA backends.
    const huge = ops.conv2d(tensor([70000, 1], [1, 2, 1, 1], opts), tensor([1, 1], [1, 2, 1, 1], opts)).data();
    t.equal(huge[0], half ? Infinity : 70001);
    const nanPad = Array.from(ops.conv2d(tensor([0, 0, 0, NaN], [1, 1, 2, 2], opts), tensor([1], [1, 1, 1, 1], opts),
      { padding: 1 }).data());
    t.same(nanPad.map((v) => Number.isNaN(v)), [false, false, false, false, false, false, false, false, false, false,
      true, false, false, false, false, false], 'NaN stays in its own output with a 1×1 kernel and padding');
  });

  t.test(`conv2d on f16 and bf16 tensors on ${device}`, async (t) => {
    // The CUDA backends stage 16-bit tensors exactly and round y once from f32; the CPU computes in f32 and
    // rounds once too. Both are held to a float64 convolution of the stored values (output rounding error).
    const cases = [[2, 12, 7, 9, 33, 3, 2, 1], [1, 5, 11, 6, 3, 1, 1, 0], [2, 24, 8, 8, 40, 3, 1, 1], [1, 10, 48, 48, 136, 3, 1, 1]];
    let seed = 700;
    for (const [n, cin, h, w, cout, k, stride, pad] of cases as [number, number, number, number, number, number, number, number][]) {
      const x = randomArray(n * cin * h * w, seed++), wt = randomArray(cout * cin * k * k, seed++), b = randomArray(cout, seed++);
      const shape = refConv2d([], [], [n, 0, h, w], [cout, 0, k, k], stride, pad).shape;
      const res = randomArray(shape.reduce((p, d) => p * d, 1), seed++);
      for (const dtype of ['f16', 'bf16'] as const) {
        const X = tensor(x, [n, cin, h, w], opts).cast(dtype), W = tensor(wt, [cout, cin, k, k], opts).cast(dtype);
        const B = tensor(b, [cout], opts).cast(dtype), R = tensor(res, shape, opts).cast(dtype);
        const y = ops.conv2d(X, W, { stride, padding: pad, bias: B, residual: R });
        t.equal(y.dtype, dtype);
        const f32 = (v: typeof X) => v.cast('f32').data() as Float32Array;
        const ref = refConv2d(f32(X), f32(W), [n, cin, h, w], [cout, cin, k, k], stride, pad, f32(B), f32(R));
        const err = normError(f32(y), ref.out);
        const label = `${dtype} ${[n, cin, h, w, cout, k, stride, pad].join(',')}`;
        t.ok(err < (dtype === 'f16' ? 1e-3 : 8e-3), `${label}: error ${err}`);
        if (half && dtype === 'f16') {  // the same products and sums as the f32 path on f16-valued inputs
          const via32 = ops.conv2d(X.cast('f32'), W.cast('f32'), { stride, padding: pad, bias: B.cast('f32'), residual: R.cast('f32') });
          const got = f32(y), want = via32.cast('f16').cast('f32').data() as Float32Array;
          t.equal(got.findIndex((v, i) => !Object.is(v, want[i])), -1, `${label}: identical to the f32 path rounded to f16`);
        }
      }
    }
  });

  t.test(`conv2d with GroupNorm (+ SiLU) of the input on ${device}`, async (t) => {
    const cases = [
      // [n, cin, h, w, cout, k, stride, pad, groups, silu, affine]
      [2, 12, 7, 9, 10, 3, 1, 1, 4, 1, 1], [1, 24, 8, 8, 40, 3, 2, 1, 8, 1, 1], [2, 6, 5, 6, 7, 1, 1, 0, 3, 0, 0],
      [1, 20, 9, 7, 33, 3, 1, 1, 5, 1, 0],
    ];
    let seed = 900;
    for (const [n, cin, h, w, cout, k, stride, pad, groups, silu, affine] of cases as number[][] as [number, number, number, number, number, number, number, number, number, number, number][]) {
      // Inputs with a large mean: the normalisation must not lose it to rounding.
      const x = Float32Array.from(randomArray(n * cin * h * w, seed++, 3), (v) => v + 5);
      const wt = randomArray(cout * cin * k * k, seed++), b = randomArray(cout, seed++);
      const gamma = randomArray(cin, seed++, 2), beta = randomArray(cin, seed++);
      const xn = refGroupNorm(x, n, cin, h * w, groups, 1e-5, affine ? gamma : undefined, affine ? beta : undefined, silu === 1);
      const ref = refConv2d(xn, wt, [n, cin, h, w], [cout, cin, k, k], stride, pad, b);
      const X = tensor(x, [n, cin, h, w], opts), W = tensor(wt, [cout, cin, k, k], opts), B = tensor(b, [cout], opts);
      const normOpts = { groups, silu: silu === 1, ...(affine ? { weight: tensor(gamma, [cin], opts), bias: tensor(beta, [cin], opts) } : {}) };
      const y = ops.conv2d(X, W, { stride, padding: pad, bias: B, norm: normOpts });
      const unfused = ops.conv2d(ops.groupNorm(X, groups, normOpts), W, { stride, padding: pad, bias: B });
      const label = [n, cin, h, w, cout, k, stride, pad, groups, silu, affine].join(',');
      const err = normError(y.data() as Float32Array, ref.out);
      const errUnfused = normError(y.data() as Float32Array, unfused.data() as Float32Array);
      t.ok(err < (half ? 2e-3 : 2e-6), `${label}: error ${err}`);
      t.ok(errUnfused < (half ? 5e-4 : 1e-7), `${label}: against groupNorm then conv2d ${errUnfused}`);
    }
  });

  t.test(`conv2d on ${device}: bad input`, async (t) => {
    const x = zeros([1, 3, 8, 8], opts);
    t.throws(() => ops.conv2d(x, zeros([4, 2, 3, 3], opts)), code('SHAPE'));
    t.throws(() => ops.conv2d(zeros([3, 8, 8], opts), zeros([4, 3, 3, 3], opts)), code('SHAPE'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 9, 9], opts)), code('SHAPE'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], opts), { stride: 0 }), code('ARG'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], opts), { padding: -1 }), code('ARG'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], opts), { bias: zeros([3], opts) }), code('SHAPE'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], opts), { residual: zeros([1, 4, 8, 8], opts) }), code('SHAPE'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], { ...opts, dtype: 'bf16' })), code('DTYPE'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], opts), { norm: { groups: 2 } }), code('ARG'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], opts), { norm: { groups: 3, weight: zeros([4], opts) } }), code('SHAPE'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], opts), { norm: { groups: 3, eps: -1 } }), code('ARG'));
    t.throws(() => ops.conv2d(x, zeros([4, 3, 3, 3], opts), { norm: { groups: 3, bias: zeros([3], { ...opts, dtype: 'f16' }) } }), code('DTYPE'));
  });
}

t.test('conv2d on cuda-sim gives identical bits under random schedules', { skip: testDevices('conv2d').includes('cuda-sim') ? false : 'cuda-sim not built' }, async (t) => {
  const opts = { device: 'cuda-sim' as const };
  const x = randomArray(2 * 19 * 9 * 7, 1), w = randomArray(21 * 19 * 9, 2), b = randomArray(21, 3);
  const big = randomArray(1 * 10 * 48 * 48, 4), wBig = randomArray(136 * 10 * 9, 5);
  const run = () => ({
    strided: Array.from(ops.conv2d(tensor(x, [2, 19, 9, 7], opts), tensor(w, [21, 19, 3, 3], opts), { stride: 2, padding: 1, bias: tensor(b, [21], opts) }).data()),
    big: Array.from(ops.conv2d(tensor(big, [1, 10, 48, 48], opts), tensor(wBig, [136, 10, 3, 3], opts), { padding: 1 }).data()),
  });
  sameUnderSimSchedules(t, run);
});

t.test('conv2d on meta counts MACs as thop does (bias included)', async (t) => {
  const meta = { device: 'meta' as const };
  const { result, counter } = countMacs(() => ops.conv2d(zeros([1, 4, 64, 64], meta), zeros([320, 4, 3, 3], meta), { padding: 1, bias: zeros([320], meta) }));
  t.same(result.shape, [1, 320, 64, 64]);
  t.equal(counter.total(), 320 * 64 * 64 * (4 * 9 + 1));
  t.equal((counter.total() / 1e9).toFixed(3), '0.048', 'conv_in of SD1.5: 0.048 GMACs (reference/hgc.md)');
  const normed = countMacs(() => ops.conv2d(zeros([1, 4, 8, 8], meta), zeros([5, 4, 3, 3], meta), { padding: 1, norm: { groups: 2, silu: true } }));
  t.equal(normed.counter.total(), 5 * 64 * 36 + 2 * 4 * 64, 'the fused GroupNorm counts as groupNorm does');
  const down = countMacs(() => ops.conv2d(zeros([1, 320, 64, 64], meta), zeros([320, 320, 3, 3], meta), { stride: 2, padding: 1 }));
  t.same(down.result.shape, [1, 320, 32, 32]);
});
