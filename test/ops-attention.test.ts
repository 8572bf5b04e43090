// Attention in compute, capture and replay modes against a float64 reference.
import t from 'tap';

import { countMacs, ops, tensor, zeros } from '../dist/src/index.js';
import { normError, randomArray, refAttention, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });
const TOL = 1e-5;

for (const device of testDevices('attention')) {
  const opts = { device: device as 'cpu' };
  t.test(`attention on ${device}: compute and capture match the reference`, async (t) => {
    const cases = [
      // [batch, n, m, heads, headDim, causal]
      [1, 1, 1, 1, 1, false], [2, 5, 77, 2, 40, false], [1, 77, 77, 3, 64, true], [1, 130, 130, 2, 40, false],
      [2, 33, 77, 1, 80, false], [1, 17, 9, 2, 160, false], [1, 64, 64, 8, 40, true], [1, 257, 77, 1, 7, false],
      [1, 9, 12, 1, 16, true],
    ];
    let seed = 300;
    for (const [b, n, m, heads, d, causal] of cases as [number, number, number, number, number, boolean][]) {
      const c = heads * d;
      const q = randomArray(b * n * c, seed++, 2), k = randomArray(b * m * c, seed++, 2), v = randomArray(b * m * c, seed++);
      const ref = refAttention(q, k, v, b, n, m, heads, d, causal);
      const Q = tensor(q, [b, n, c], opts), K = tensor(k, [b, m, c], opts), V = tensor(v, [b, m, c], opts);
      const out = ops.attention(Q, K, V, { heads, causal });
      const err = normError(out.data() as Float32Array, ref.out);
      const probs = zeros([b, heads, n, m], opts);
      const cap = ops.attention(Q, K, V, { heads, causal, mode: 'capture', probs });
      const errCap = normError(cap.data() as Float32Array, ref.out);
      const errP = normError(probs.data() as Float32Array, ref.probs);
      const rep = ops.attention(null, null, V, { heads, mode: 'replay', probs });
      const errRep = normError(rep.data() as Float32Array, out.data() as Float32Array);
      const label = `b=${b} n=${n} m=${m} h=${heads} d=${d}${causal ? ' causal' : ''}`;
      t.ok(err < TOL && errCap < TOL && errP < TOL && errRep < TOL,
        `${label}: compute ${err.toExponential(2)}, capture ${errCap.toExponential(2)}, probs ${errP.toExponential(2)}, replay vs compute ${errRep.toExponential(2)}`);
      for (const x of [Q, K, V, out, probs, cap, rep]) x.dispose();
    }
  });

  t.test(`attention on ${device}: replay with a new V is P·V_new`, async (t) => {
    const [b, n, m, heads, d] = [1, 20, 77, 2, 40];
    const c = heads * d;
    const q = randomArray(b * n * c, 1), k = randomArray(b * m * c, 2), v = randomArray(b * m * c, 3), v2 = randomArray(b * m * c, 4);
    const probs = zeros([b, heads, n, m], opts);
    ops.attention(tensor(q, [b, n, c], opts), tensor(k, [b, m, c], opts), tensor(v, [b, m, c], opts), { heads, mode: 'capture', probs });
    const rep = ops.attention(null, null, tensor(v2, [b, m, c], opts), { heads, mode: 'replay', probs });
    const ref = refAttention(q, k, v2, b, n, m, heads, d);
    t.ok(normError(rep.data() as Float32Array, ref.out) < TOL);
  });

  t.test(`attention on ${device}: dtypes, NaN, custom scale`, async (t) => {
    const [b, n, m, heads, d] = [1, 6, 8, 2, 40];
    const c = heads * d;
    const q = randomArray(b * n * c, 7), k = randomArray(b * m * c, 8), v = randomArray(b * m * c, 9);
    const scaled = ops.attention(tensor(q, [b, n, c], opts), tensor(k, [b, m, c], opts), tensor(v, [b, m, c], opts), { heads, scale: 0.3 });
    t.ok(normError(scaled.data() as Float32Array, refAttention(q, k, v, b, n, m, heads, d, false, 0.3).out) < TOL);
    const Q = tensor(q, [b, n, c], { ...opts, dtype: 'f16' });
    const K = tensor(k, [b, m, c], { ...opts, dtype: 'f16' });
    const V = tensor(v, [b, m, c], { ...opts, dtype: 'f16' });
    const h = ops.attention(Q, K, V, { heads });
    t.equal(h.dtype, 'f16');
    t.ok(normError(h.toFloat32(), refAttention(Q.toFloat32(), K.toFloat32(), V.toFloat32(), b, n, m, heads, d).out) < 2e-3);
    const qn = Float32Array.from(q);
    qn[0] = NaN;
    const withNaN = ops.attention(tensor(qn, [b, n, c], opts), tensor(k, [b, m, c], opts), tensor(v, [b, m, c], opts), { heads }).data();
    t.ok(Number.isNaN(withNaN[0]!), 'NaN in q gives NaN in its row');
    t.notOk(Number.isNaN(withNaN[c]!), 'other rows are unaffected');
  });

  t.test(`attention on ${device}: bad input`, async (t) => {
    const q = zeros([1, 4, 8], opts), k = zeros([1, 5, 8], opts);
    t.throws(() => ops.attention(q, k, k, { heads: 3 }), code('SHAPE'));
    t.throws(() => ops.attention(q, k, zeros([1, 6, 8], opts), { heads: 2 }), code('SHAPE'));
    t.throws(() => ops.attention(zeros([1, 4, 6], opts), k, k, { heads: 2 }), code('SHAPE'));
    t.throws(() => ops.attention(q, k, k, { heads: 0 }), code('ARG'));
    t.throws(() => ops.attention(q, k, k, { heads: 2, mode: 'capture' }), code('ARG'));
    t.throws(() => ops.attention(q, k, k, { heads: 2, mode: 'capture', probs: zeros([1, 2, 4, 4], opts) }), code('SHAPE'));
    t.throws(() => ops.attention(q, k, k, { heads: 2, mode: 'capture', probs: zeros([1, 2, 4, 5], { ...opts, dtype: 'f16' }) }), code('DTYPE'));
    t.throws(() => ops.attention(null, null, k, { heads: 2, mode: 'replay' }), code('ARG'));
    t.throws(() => ops.attention(null, null, k, { heads: 2, mode: 'replay', probs: zeros([1, 2, 4, 6], opts) }), code('SHAPE'));
    t.throws(() => ops.attention(null, k, k, { heads: 2 }), code('ARG'));
    t.throws(() => ops.attention(q, k, k, { heads: 2, mode: 'fast' as 'compute' }), code('ARG'));
    t.throws(() => ops.attention(zeros([1, 6, 8], opts), k, k, { heads: 2, causal: true }), code('SHAPE'));
    t.throws(() => ops.attention(q, zeros([1, 0, 8], opts), zeros([1, 0, 8], opts), { heads: 2 }), code('SHAPE'));
    t.throws(() => ops.attention(q, k, k, { heads: 2, scale: NaN }), code('ARG'));
  });
}

t.test('attention on meta: shapes and MACs (attention products only under "all")', async (t) => {
  const meta = { device: 'meta' as const };
  const { result, counter } = countMacs(() => ops.attention(zeros([2, 4096, 320], meta), zeros([2, 77, 320], meta), zeros([2, 77, 320], meta), { heads: 8 }));
  t.same(result.shape, [2, 4096, 320]);
  t.equal(counter.total('modules'), 0);
  t.equal(counter.total('all'), 2 * 2 * 8 * 4096 * 77 * 40);
  const replay = countMacs(() => ops.attention(null, null, zeros([2, 77, 320], meta), { heads: 8, mode: 'replay', probs: zeros([2, 8, 4096, 77], meta) }));
  t.equal(replay.counter.total('all'), 2 * 8 * 4096 * 77 * 40, 'replay skips q·kᵀ');
});
