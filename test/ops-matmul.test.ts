// matmul / linear against a float64 reference on awkward shapes, on every backend.
import t from 'tap';

import { MacCounter, countMacs, ops, tensor, zeros } from '../dist/src/index.js';
import { normError, randomArray, refGemm, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });
const TOL = 2e-6;

for (const device of testDevices('gemm')) {
  const opts = { device: device as 'cpu' };
  t.test(`matmul on ${device}: shapes, transposes, epilogues`, async (t) => {
    const cases: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [17, 33, 9], [77, 40, 64], [130, 3, 257], [64, 80, 320], [5, 129, 1]];
    let seed = 1;
    for (const [m, n, k] of cases) {
      for (const transA of [false, true]) for (const transB of [false, true]) {
        const a = randomArray(m * k, seed++), b = randomArray(k * n, seed++);
        const A = tensor(a, transA ? [k, m] : [m, k], opts), B = tensor(b, transB ? [n, k] : [k, n], opts);
        const y = ops.matmul(A, B, { transA, transB });
        t.same(y.shape, [m, n]);
        const err = normError(y.data() as Float32Array, refGemm(a, b, m, n, k, { transA, transB }));
        if (err > TOL) t.fail(`m=${m} n=${n} k=${k} tA=${transA} tB=${transB}: error ${err}`);
        for (const x of [A, B, y]) x.dispose();
      }
    }
    for (const activation of ['none', 'gelu', 'gelu_tanh', 'silu', 'quick_gelu'] as const) {
      const [m, n, k] = [19, 23, 31];
      const a = randomArray(m * k, seed++, 2), b = randomArray(k * n, seed++), bias = randomArray(n, seed++), res = randomArray(m * n, seed++);
      const y = ops.matmul(tensor(a, [m, k], opts), tensor(b, [k, n], opts), {
        bias: tensor(bias, [n], opts), residual: tensor(res, [m, n], opts), activation,
      });
      const err = normError(y.data() as Float32Array, refGemm(a, b, m, n, k, { bias, residual: res, activation }));
      t.ok(err < TOL, `epilogue ${activation}: error ${err}`);
    }
    t.pass('all shapes within tolerance');
  });

  t.test(`matmul on ${device}: batches and shared operands`, async (t) => {
    const [bt, m, n, k] = [3, 7, 11, 13];
    const a = randomArray(bt * m * k, 5), b = randomArray(bt * k * n, 6), w = randomArray(k * n, 7);
    const y = ops.matmul(tensor(a, [bt, m, k], opts), tensor(b, [bt, k, n], opts)).data() as Float32Array;
    const ys = ops.matmul(tensor(a, [bt, m, k], opts), tensor(w, [k, n], opts)).data() as Float32Array;
    const yl = ops.matmul(tensor(w.subarray(0, m * k), [m, k], opts), tensor(b, [bt, k, n], opts)).data() as Float32Array;
    for (let i = 0; i < bt; i++) {
      const ref = refGemm(a.subarray(i * m * k), b.subarray(i * k * n), m, n, k);
      t.ok(normError(y.subarray(i * m * n, (i + 1) * m * n), ref) < TOL, `batch ${i}`);
      t.ok(normError(ys.subarray(i * m * n, (i + 1) * m * n), refGemm(a.subarray(i * m * k), w, m, n, k)) < TOL, `shared b ${i}`);
      t.ok(normError(yl.subarray(i * m * n, (i + 1) * m * n), refGemm(w, b.subarray(i * k * n), m, n, k)) < TOL, `shared a ${i}`);
    }
  });

  t.test(`linear on ${device}`, async (t) => {
    const [rows, inF, outF] = [2 * 77, 40, 24];
    const x = randomArray(rows * inF, 11), w = randomArray(outF * inF, 12), bias = randomArray(outF, 13);
    const y = ops.linear(tensor(x, [2, 77, inF], opts), tensor(w, [outF, inF], opts), { bias: tensor(bias, [outF], opts), activation: 'gelu' });
    t.same(y.shape, [2, 77, outF]);
    t.ok(normError(y.data() as Float32Array, refGemm(x, w, rows, outF, inF, { transB: true, bias, activation: 'gelu' })) < TOL);
    const r = randomArray(rows * outF, 14);
    const y2 = ops.linear(tensor(x, [2, 77, inF], opts), tensor(w, [outF, inF], opts), { residual: tensor(r, [2, 77, outF], opts) });
    t.ok(normError(y2.data() as Float32Array, refGemm(x, w, rows, outF, inF, { transB: true, residual: r })) < TOL);
  });

  t.test(`matmul on ${device}: f16 and bf16 in, same dtype out`, async (t) => {
    const [m, n, k] = [9, 10, 40];
    const a = randomArray(m * k, 21), b = randomArray(k * n, 22);
    for (const dtype of ['f16', 'bf16'] as const) {
      const A = tensor(a, [m, k], { ...opts, dtype }), B = tensor(b, [k, n], { ...opts, dtype });
      const y = ops.matmul(A, B);
      t.equal(y.dtype, dtype);
      const ref = refGemm(A.toFloat32(), B.toFloat32(), m, n, k);
      const err = normError(y.toFloat32(), ref);
      t.ok(err < (dtype === 'f16' ? 2e-3 : 1.6e-2), `${dtype}: error ${err} (output rounding only)`);
    }
  });

  t.test(`matmul on ${device}: NaN and Inf propagate`, async (t) => {
    const a = tensor([NaN, 1, 2, 3], [2, 2], opts), b = tensor([1, 0, 0, 1], [2, 2], opts);
    const y = ops.matmul(a, b).data();
    t.ok(Number.isNaN(y[0]!) && Number.isNaN(y[1]!), 'row with NaN is NaN');
    t.same(Array.from(y.slice(2)), [2, 3]);
    const inf = ops.matmul(tensor([Infinity, 1], [1, 2], opts), tensor([1, 1], [2, 1], opts)).data();
    t.equal(inf[0], Infinity);
  });

  t.test(`matmul on ${device}: bad input`, async (t) => {
    const a = zeros([2, 3], opts), b = zeros([4, 5], opts);
    t.throws(() => ops.matmul(a, b), code('SHAPE'));
    t.throws(() => ops.matmul(zeros([3], opts), b), code('SHAPE'));
    t.throws(() => ops.matmul(zeros([2, 2, 3], opts), zeros([3, 3, 4], opts)), code('SHAPE'));
    t.throws(() => ops.matmul(a, zeros([3, 4], { ...opts, dtype: 'f16' })), code('DTYPE'));
    t.throws(() => ops.matmul(a, zeros([3, 4], opts), { bias: zeros([5], opts) }), code('SHAPE'));
    t.throws(() => ops.matmul(a, zeros([3, 4], opts), { residual: zeros([2, 5], opts) }), code('SHAPE'));
    t.throws(() => ops.matmul(a, zeros([3, 4], opts), { activation: 'relu' as 'gelu' }), code('ARG'));
    t.throws(() => ops.matmul(a, zeros([3, 4], { device: 'meta' })), code('DEVICE'));
    t.throws(() => ops.matmul(a, 5 as unknown as typeof a), code('ARG'));
    t.throws(() => ops.linear(a, zeros([4, 2], opts)), code('SHAPE'));
    const d = zeros([3, 4], opts);
    d.dispose();
    t.throws(() => ops.matmul(a, d), code('DISPOSED'));
    const e = ops.matmul(zeros([0, 3], opts), zeros([3, 4], opts));
    t.same(e.shape, [0, 4]);
    const k0 = ops.matmul(zeros([2, 0], opts), zeros([0, 3], opts), { bias: tensor([1, 2, 3], [3], opts) });
    t.same(Array.from(k0.data()), [1, 2, 3, 1, 2, 3], 'K = 0 leaves bias only');
  });
}

t.test('matmul and linear on the meta device count MACs', async (t) => {
  const meta = { device: 'meta' as const };
  const { result, counter } = countMacs(() => ops.linear(zeros([2, 4096, 320], meta), zeros([1280, 320], meta)));
  t.same(result.shape, [2, 4096, 1280]);
  t.equal(counter.total('modules'), 2 * 4096 * 320 * 1280);
  const c2 = new MacCounter();
  countMacs(() => ops.matmul(zeros([8, 64, 40], meta), zeros([8, 40, 77], meta)), c2);
  t.equal(c2.total('modules'), 0, 'plain matmuls are not modules');
  t.equal(c2.total('all'), 8 * 64 * 40 * 77);
});
