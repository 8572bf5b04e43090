// conv2d against a float64 reference: kernel 1/3/5, stride 1/2, padding, bias, residual, odd sizes.
import t from 'tap';

import { countMacs, ops, tensor, zeros } from '../dist/src/index.js';
import { normError, randomArray, refConv2d, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });

for (const device of testDevices('conv2d')) {
  const opts = { device: device as 'cpu' };
  t.test(`conv2d on ${device}`, async (t) => {
    const cases = [
      // [n, cin, h, w, cout, k, stride, pad]
      [1, 3, 7, 9, 5, 3, 1, 1], [2, 4, 8, 8, 6, 3, 2, 1], [1, 5, 11, 6, 3, 1, 1, 0], [1, 2, 9, 9, 4, 5, 1, 2],
      [1, 8, 5, 5, 8, 3, 1, 0], [2, 3, 10, 7, 2, 3, 2, 0], [1, 16, 16, 16, 17, 3, 1, 1], [1, 1, 1, 1, 1, 1, 1, 0],
      [1, 6, 7, 7, 9, 1, 2, 0], [1, 33, 12, 12, 40, 3, 1, 1],
    ];
    let seed = 100;
    for (const [n, cin, h, w, cout, k, stride, pad] of cases as [number, number, number, number, number, number, number, number][]) {
      const x = randomArray(n * cin * h * w, seed++), wt = randomArray(cout * cin * k * k, seed++), b = randomArray(cout, seed++);
      const ref = refConv2d(x, wt, [n, cin, h, w], [cout, cin, k, k], stride, pad, b);
      const res = randomArray(ref.out.length, seed++);
      const refRes = refConv2d(x, wt, [n, cin, h, w], [cout, cin, k, k], stride, pad, b, res);
      const X = tensor(x, [n, cin, h, w], opts), W = tensor(wt, [cout, cin, k, k], opts), B = tensor(b, [cout], opts);
      const y = ops.conv2d(X, W, { stride, padding: pad, bias: B });
      t.same(y.shape, ref.shape);
      const err = normError(y.data() as Float32Array, ref.out);
      const y2 = ops.conv2d(X, W, { stride, padding: pad, bias: B, residual: tensor(res, ref.shape, opts) });
      const err2 = normError(y2.data() as Float32Array, refRes.out);
      t.ok(err < 2e-6 && err2 < 2e-6, `${[n, cin, h, w, cout, k, stride, pad].join(',')}: error ${err}, with residual ${err2}`);
    }
    const noBias = ops.conv2d(tensor([1, 2, 3, 4], [1, 1, 2, 2], opts), tensor([1], [1, 1, 1, 1], opts));
    t.same(Array.from(noBias.data()), [1, 2, 3, 4]);
    const h16 = ops.conv2d(zeros([1, 2, 4, 4], { ...opts, dtype: 'f16' }), zeros([3, 2, 3, 3], { ...opts, dtype: 'f16' }), { padding: 1 });
    t.equal(h16.dtype, 'f16');
    const nan = ops.conv2d(tensor([NaN, 0, 0, 0], [1, 1, 2, 2], opts), tensor([1, 1, 1, 1], [1, 1, 2, 2], opts)).data();
    t.ok(Number.isNaN(nan[0]!), 'NaN propagates');
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
  });
}

t.test('conv2d on meta counts MACs as thop does (bias included)', async (t) => {
  const meta = { device: 'meta' as const };
  const { result, counter } = countMacs(() => ops.conv2d(zeros([1, 4, 64, 64], meta), zeros([320, 4, 3, 3], meta), { padding: 1, bias: zeros([320], meta) }));
  t.same(result.shape, [1, 320, 64, 64]);
  t.equal(counter.total(), 320 * 64 * 64 * (4 * 9 + 1));
  t.equal((counter.total() / 1e9).toFixed(3), '0.048', 'conv_in of SD1.5: 0.048 GMACs (reference/hgc.md)');
  const down = countMacs(() => ops.conv2d(zeros([1, 320, 64, 64], meta), zeros([320, 320, 3, 3], meta), { stride: 2, padding: 1 }));
  t.same(down.result.shape, [1, 320, 32, 32]);
});
