// Norms, softmax, element-wise ops, layout ops, timestep embedding and similarity reductions.
import t from 'tap';

import { countMacs, ops, tensor, zeros } from '../dist/src/index.js';
import { act, normError, randomArray, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });

function refGroupNorm(x: Float32Array, n: number, c: number, sp: number, groups: number, gamma: Float32Array, beta: Float32Array,
  eps: number, silu: boolean): Float64Array {
  const out = new Float64Array(x.length);
  const per = c / groups;
  for (let b = 0; b < n; b++) for (let g = 0; g < groups; g++) {
    const start = (b * c + g * per) * sp, len = per * sp;
    let mean = 0;
    for (let i = 0; i < len; i++) mean += x[start + i]!;
    mean /= len;
    let v = 0;
    for (let i = 0; i < len; i++) v += (x[start + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / len + eps);
    for (let i = 0; i < len; i++) {
      const ch = g * per + Math.floor(i / sp);
      const y = (x[start + i]! - mean) * rstd * gamma[ch]! + beta[ch]!;
      out[start + i] = silu ? act.silu(y) : y;
    }
  }
  return out;
}

for (const device of testDevices('group_norm', 'layer_norm', 'softmax', 'unary', 'binary', 'geglu', 'strided_copy',
  'upsample2x', 'timestep_embedding', 'reduce')) {
  const opts = { device: device as 'cpu' };
  t.test(`groupNorm and layerNorm on ${device}`, async (t) => {
    for (const [n, c, h, w, groups, silu] of [[1, 32, 5, 7, 8, false], [2, 6, 3, 3, 3, true], [1, 320, 8, 8, 32, true], [1, 4, 1, 1, 2, false]] as [number, number, number, number, number, boolean][]) {
      const x = randomArray(n * c * h * w, c + h, 3), g = randomArray(c, 5), b = randomArray(c, 6);
      const y = ops.groupNorm(tensor(x, [n, c, h, w], opts), groups, { weight: tensor(g, [c], opts), bias: tensor(b, [c], opts), eps: 1e-6, silu });
      const err = normError(y.data() as Float32Array, refGroupNorm(x, n, c, h * w, groups, g, b, 1e-6, silu));
      t.ok(err < 5e-6, `groupNorm ${[n, c, h, w, groups, silu]}: ${err}`);
    }
    const x = Float32Array.from(randomArray(3 * 77 * 40, 8), (v) => v * 50 + 1000);  // large offset: needs a stable variance
    const g = randomArray(40, 9), b = randomArray(40, 10);
    const y = ops.layerNorm(tensor(x, [3, 77, 40], opts), { weight: tensor(g, [40], opts), bias: tensor(b, [40], opts) }).data();
    const ref = new Float64Array(x.length);
    for (let r = 0; r < 3 * 77; r++) {
      let mean = 0, v = 0;
      for (let i = 0; i < 40; i++) mean += x[r * 40 + i]!;
      mean /= 40;
      for (let i = 0; i < 40; i++) v += (x[r * 40 + i]! - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / 40 + 1e-5);
      for (let i = 0; i < 40; i++) ref[r * 40 + i] = (x[r * 40 + i]! - mean) * rstd * g[i]! + b[i]!;
    }
    t.ok(normError(y, ref) < 5e-6, 'layerNorm');
    const plain = ops.groupNorm(tensor([1, 2, 3, 4], [1, 2, 2], opts), 1).data();
    t.ok(Math.abs(plain[0]! + 1.3416) < 1e-3, 'no affine parameters');
    t.throws(() => ops.groupNorm(zeros([1, 6, 2, 2], opts), 4), code('ARG'));
    t.throws(() => ops.groupNorm(zeros([6], opts), 2), code('SHAPE'));
    t.throws(() => ops.groupNorm(zeros([1, 6, 2], opts), 2, { weight: zeros([5], opts) }), code('SHAPE'));
    t.throws(() => ops.groupNorm(zeros([1, 6, 2], opts), 2, { eps: -1 }), code('ARG'));
    t.throws(() => ops.layerNorm(zeros([2, 6], opts), { bias: zeros([2], opts) }), code('SHAPE'));
    const nan = ops.groupNorm(tensor([NaN, 1, 2, 3], [1, 2, 2], opts), 2).data();
    t.ok(Number.isNaN(nan[0]!) && !Number.isNaN(nan[2]!), 'NaN stays inside its group');
  });

  t.test(`softmax and activations on ${device}`, async (t) => {
    const x = randomArray(5 * 77, 11, 8);
    const y = ops.softmax(tensor(x, [5, 77], opts)).data();
    const ref = new Float64Array(x.length);
    for (let r = 0; r < 5; r++) {
      let mx = -Infinity, s = 0;
      for (let i = 0; i < 77; i++) mx = Math.max(mx, x[r * 77 + i]!);
      for (let i = 0; i < 77; i++) s += Math.exp(x[r * 77 + i]! - mx);
      for (let i = 0; i < 77; i++) ref[r * 77 + i] = Math.exp(x[r * 77 + i]! - mx) / s;
    }
    t.ok(normError(y, ref) < 1e-6, 'softmax');
    const special = ops.softmax(tensor([-Infinity, -Infinity, 1, NaN], [2, 2], opts)).data();
    t.same(Array.from(special.slice(0, 2)), [0, 0], 'all −inf row gives zeros');
    t.ok(Number.isNaN(special[2]!) && Number.isNaN(special[3]!), 'NaN row gives NaN');
    const v = randomArray(1000, 12, 6);
    const V = tensor(v, [10, 100], opts);
    const check = (name: string, got: ArrayLike<number>, f: (x: number) => number, tol: number) => {
      const err = normError(got, Array.from(v, f));
      t.ok(err < tol, `${name}: ${err}`);
    };
    check('gelu', ops.gelu(V).data(), act.gelu, 1e-6);
    check('gelu tanh', ops.gelu(V, { approximate: 'tanh' }).data(), act.gelu_tanh, 1e-6);
    check('silu', ops.silu(V).data(), act.silu, 1e-6);
    check('quickGelu', ops.quickGelu(V).data(), act.quick_gelu, 1e-6);
    check('scale', ops.scale(V, 0.5, 2).data(), (x) => 0.5 * x + 2, 1e-7);
    check('relu', ops.relu(V).data(), (x) => Math.max(x, 0), 1e-12);
    check('tanh', ops.tanh(V, 1 / 3).data(), (x) => Math.tanh(x / 3), 1e-6);
    check('sigmoid', ops.sigmoid(V).data(), (x) => 1 / (1 + Math.exp(-x)), 1e-6);
    t.ok(Number.isNaN(ops.relu(tensor([NaN], [1], opts)).data()[0]!), 'NaN propagates through relu');
    const gg = ops.geglu(V).data();
    const ggRef = new Float64Array(500);
    for (let r = 0; r < 10; r++) for (let i = 0; i < 50; i++) ggRef[r * 50 + i] = v[r * 100 + i]! * act.gelu(v[r * 100 + 50 + i]!);
    t.ok(normError(gg, ggRef) < 1e-6, 'geglu');
    t.throws(() => ops.geglu(zeros([3, 5], opts)), code('SHAPE'));
    t.throws(() => ops.gelu(V, { approximate: 'fast' as 'tanh' }), code('ARG'));
    t.ok(Number.isNaN(ops.silu(tensor([NaN], [1], opts)).data()[0]!), 'NaN propagates through silu');
  });

  t.test(`broadcasting arithmetic on ${device}`, async (t) => {
    const a = randomArray(2 * 3 * 4, 13), b = randomArray(3 * 1, 14), c = randomArray(4, 15);
    const A = tensor(a, [2, 3, 4], opts);
    const sum = ops.add(A, tensor(b, [3, 1], opts)).data();
    const prod = ops.mul(A, tensor(c, [4], opts)).data();
    const diff = ops.sub(tensor(c, [4], opts), A).data();
    const quo = ops.div(A, tensor([2], [1], opts)).data();
    for (let i = 0; i < 24; i++) {
      const j = Math.floor(i / 4) % 3, k = i % 4;
      if (Math.abs(sum[i]! - (a[i]! + b[j]!)) > 1e-6 || Math.abs(prod[i]! - a[i]! * c[k]!) > 1e-6 ||
        Math.abs(diff[i]! - (c[k]! - a[i]!)) > 1e-6 || Math.abs(quo[i]! - a[i]! / 2) > 1e-6) {
        t.fail(`element ${i}`);
        return;
      }
    }
    t.same(ops.add(zeros([2, 1], opts), zeros([1, 3], opts)).shape, [2, 3]);
    t.throws(() => ops.add(zeros([2, 3], opts), zeros([4], opts)), code('SHAPE'));
    t.throws(() => ops.add(zeros([2], opts), zeros([2], { ...opts, dtype: 'f16' })), code('DTYPE'));
    t.same(ops.add(zeros([0, 3], opts), zeros([3], opts)).shape, [0, 3]);
  });

  t.test(`layout ops on ${device}`, async (t) => {
    const x = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i);
    const X = tensor(x, [2, 3, 4, 5], opts);
    const p = ops.permute(X, [0, 2, 3, 1]);
    t.same(p.shape, [2, 4, 5, 3]);
    const pd = p.data();
    t.equal(pd[((1 * 4 + 2) * 5 + 3) * 3 + 1], x[((1 * 3 + 1) * 4 + 2) * 5 + 3]);
    const tok = ops.nchwToTokens(X);
    t.same(tok.shape, [2, 20, 3]);
    t.same(Array.from(ops.tokensToNchw(tok, 4, 5).data()), Array.from(x), 'tokens round trip');
    const s = ops.slice(X, 1, 1, 3);
    t.same(s.shape, [2, 2, 4, 5]);
    t.equal(s.data()[0], x[20]);
    t.same(ops.slice(X, -1, -2, 5).shape, [2, 3, 4, 2]);
    const parts = ops.split(X, [1, 2], 1);
    t.same(Array.from(ops.concat(parts, 1).data()), Array.from(x), 'split then concat is the identity');
    t.same(ops.concat([X, X], 0).shape, [4, 3, 4, 5]);
    const up = ops.upsampleNearest2x(tensor([1, 2, 3, 4], [1, 1, 2, 2], opts)).data();
    t.same(Array.from(up), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    const h = tensor([1, 2], [1, 2], { ...opts, dtype: 'f16' });
    t.same(Array.from(ops.concat([h, h], 1).toFloat32()), [1, 2, 1, 2], 'concat moves f16 too');
    t.throws(() => ops.permute(X, [0, 1, 2]), code('ARG'));
    t.throws(() => ops.permute(X, [0, 1, 1, 2]), code('ARG'));
    t.throws(() => ops.slice(X, 1, 2, 5), code('ARG'));
    t.throws(() => ops.slice(X, 7, 0, 1), code('ARG'));
    t.throws(() => ops.concat([X, zeros([2, 3, 4, 6], opts)], 1), code('SHAPE'));
    t.throws(() => ops.concat([], 1), code('ARG'));
    t.throws(() => ops.split(X, [1, 1], 1), code('SHAPE'));
    t.throws(() => ops.upsampleNearest2x(zeros([3, 4], opts)), code('SHAPE'));
  });

  t.test(`timestep embedding on ${device}`, async (t) => {
    const ts = [0, 1, 500, 999];
    for (const [dim, flip, shift] of [[320, true, 0], [7, false, 1], [64, false, 1]] as [number, boolean, number][]) {
      const y = ops.timestepEmbedding(tensor(ts, [4], opts), dim, { flipSinToCos: flip, downscaleFreqShift: shift }).data();
      const half = Math.floor(dim / 2);
      const ref = new Float64Array(4 * dim);
      ts.forEach((tv, i) => {
        for (let j = 0; j < half; j++) {
          const arg = tv * Math.exp(-Math.log(10000) * j / (half - shift));
          ref[i * dim + j] = flip ? Math.cos(arg) : Math.sin(arg);
          ref[i * dim + half + j] = flip ? Math.sin(arg) : Math.cos(arg);
        }
      });
      // float32 arguments up to ~1000 rad carry ~6e-5 absolute error, as in diffusers' float32 computation
      t.ok(normError(y, ref) < 2e-4, `dim ${dim}: ${normError(y, ref)}`);
    }
    t.throws(() => ops.timestepEmbedding(zeros([2, 2], opts), 8), code('SHAPE'));
    t.throws(() => ops.timestepEmbedding(zeros([2], opts), 1), code('ARG'));
  });

  t.test(`similarity reductions on ${device}`, async (t) => {
    const a = randomArray(100003, 16), b = randomArray(100003, 17);
    let l1 = 0, d = 0, nb = 0, dot = 0, na = 0, nb2 = 0;
    for (let i = 0; i < a.length; i++) {
      l1 += Math.abs(a[i]!); d += Math.abs(a[i]! - b[i]!); nb += Math.abs(b[i]!);
      dot += a[i]! * b[i]!; na += a[i]! ** 2; nb2 += b[i]! ** 2;
    }
    const A = tensor(a, [100003], opts), B = tensor(b, [100003], opts);
    t.ok(Math.abs(ops.l1Norm(A) - l1) / l1 < 1e-12, 'l1Norm');
    t.ok(Math.abs(ops.relativeL1(A, B) - d / nb) < 1e-12, 'relativeL1');
    t.ok(Math.abs(ops.cosineSimilarity(A, B) - dot / Math.sqrt(na * nb2)) < 1e-12, 'cosine');
    t.ok(Math.abs(ops.cosineSimilarity(A, A) - 1) < 1e-12);
    t.throws(() => ops.relativeL1(A, zeros([3], opts)), code('SHAPE'));
    t.throws(() => ops.l1Norm(zeros([3], { device: 'meta' })), code('DEVICE'));
    t.ok(Number.isNaN(ops.l1Norm(tensor([NaN, 1], [2], opts))));
  });
}

t.test('norms count 2 MACs per element under the modules convention', async (t) => {
  const meta = { device: 'meta' as const };
  const { result, counter } = countMacs(() => ops.groupNorm(zeros([1, 320, 64, 64], meta), 32, { silu: true }));
  t.same(result.shape, [1, 320, 64, 64]);
  t.equal((counter.total() / 1e9).toFixed(3), '0.003', 'norm_out of SD1.5: 0.003 GMACs (reference/hgc.md)');
  t.same(ops.geglu(zeros([2, 10, 8], meta)).shape, [2, 10, 4]);
  t.same(ops.permute(zeros([2, 3, 4], meta), [2, 0, 1]).shape, [4, 2, 3]);
  t.same(ops.upsampleNearest2x(zeros([1, 2, 3, 4], meta)).shape, [1, 2, 6, 8]);
  t.same(ops.timestepEmbedding(zeros([2], meta), 320).shape, [2, 320]);
  t.same(ops.concat([zeros([1, 2], meta), zeros([1, 3], meta)], 1).shape, [1, 5]);
});
