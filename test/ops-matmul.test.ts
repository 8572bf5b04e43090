// matmul / linear against a float64 reference on awkward shapes, on every backend that implements gemm
// (cpu, cuda-sim in CI, cuda with a GPU). On cuda-sim the shapes shrink but stay awkward (tails in M, N and K,
// leading dims that are and are not multiples of 8, shared batch operands).
import t from 'tap';

import { MacCounter, countMacs, ops, tensor, zeros } from '../dist/src/index.js';
import { native } from '../dist/src/native.js';
import { act, isSim, normError, randomArray, refGemm, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });
const TOL = 2e-6;
type Shape3 = [number, number, number];

/** Runs fn with HGC_GEMM_TILE set (the cuda launchers' tile override; other backends ignore it). */
function withTile<T>(tile: string | undefined, fn: () => T): T {
  const saved = process.env.HGC_GEMM_TILE;
  if (tile === undefined) delete process.env.HGC_GEMM_TILE;
  else process.env.HGC_GEMM_TILE = tile;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.HGC_GEMM_TILE;
    else process.env.HGC_GEMM_TILE = saved;
  }
}

/**
 * f16/bf16 check relative to a same-precision naive result: the float64 product of the (already rounded)
 * inputs, rounded once to the dtype. The kernel's error against float64 may be at most twice that one's
 * (f32 accumulation adds ~1e-6 on top of the output rounding).
 */
function halfError(y: Float32Array, ref: Float64Array, dtype: 'f16' | 'bf16'): { err: number; bound: number } {
  const rounded = tensor(Float32Array.from(ref), [ref.length], { dtype });
  const naive = normError(rounded.toFloat32(), ref);
  rounded.dispose();
  return { err: normError(y, ref), bound: 2 * naive + 1e-5 };
}

for (const device of testDevices('gemm')) {
  const opts = { device: device as 'cpu' };
  const sim = isSim(device);
  // The cuda launchers have two block tiles each; run both (cpu has one path).
  const tiles = device === 'cpu' ? [undefined] : ['64', '128'];

  t.test(`matmul on ${device}: shapes, transposes, epilogues`, async (t) => {
    const cases: Shape3[] = sim
      ? [[1, 1, 1], [3, 5, 7], [77, 33, 40], [72, 48, 40], [5, 70, 1], [66, 3, 45], [136, 130, 40]]
      : [[1, 1, 1], [3, 5, 7], [17, 33, 9], [77, 33, 40], [77, 40, 64], [130, 3, 257], [64, 80, 320], [5, 129, 1], [300, 260, 70]];
    for (const tile of tiles) withTile(tile, () => {
      let seed = 1;
      for (const [m, n, k] of cases) {
        for (const transA of [false, true]) for (const transB of [false, true]) {
          const a = randomArray(m * k, seed++), b = randomArray(k * n, seed++);
          const A = tensor(a, transA ? [k, m] : [m, k], opts), B = tensor(b, transB ? [n, k] : [k, n], opts);
          const y = ops.matmul(A, B, { transA, transB });
          t.same(y.shape, [m, n]);
          const err = normError(y.data() as Float32Array, refGemm(a, b, m, n, k, { transA, transB }));
          if (err > TOL) t.fail(`tile ${tile} m=${m} n=${n} k=${k} tA=${transA} tB=${transB}: error ${err}`);
          for (const x of [A, B, y]) x.dispose();
        }
      }
      for (const activation of Object.keys(act) as (keyof typeof act)[]) {
        const [m, n, k] = [77, 33, 40];
        const a = randomArray(m * k, seed++, 2), b = randomArray(k * n, seed++), bias = randomArray(n, seed++), res = randomArray(m * n, seed++);
        const y = ops.matmul(tensor(a, [m, k], opts), tensor(b, [k, n], opts), {
          bias: tensor(bias, [n], opts), residual: tensor(res, [m, n], opts), activation,
        });
        const err = normError(y.data() as Float32Array, refGemm(a, b, m, n, k, { bias, residual: res, activation }));
        t.ok(err < TOL, `tile ${tile} epilogue ${activation}: error ${err}`);
      }
    });
    t.pass('all shapes within tolerance');
  });

  t.test(`matmul on ${device}: batches and shared operands`, async (t) => {
    const [bt, m, n, k] = sim ? [3, 20, 33, 40] : [3, 77, 33, 40];
    const a = randomArray(bt * m * k, 5), b = randomArray(bt * k * n, 6), w = randomArray(k * n, 7), v = randomArray(m * k, 8);
    const y = ops.matmul(tensor(a, [bt, m, k], opts), tensor(b, [bt, k, n], opts)).data() as Float32Array;
    const ys = ops.matmul(tensor(a, [bt, m, k], opts), tensor(w, [k, n], opts)).data() as Float32Array;
    const yl = ops.matmul(tensor(v, [m, k], opts), tensor(b, [bt, k, n], opts)).data() as Float32Array;
    for (let i = 0; i < bt; i++) {
      const ref = refGemm(a.subarray(i * m * k), b.subarray(i * k * n), m, n, k);
      t.ok(normError(y.subarray(i * m * n, (i + 1) * m * n), ref) < TOL, `batch ${i}`);
      t.ok(normError(ys.subarray(i * m * n, (i + 1) * m * n), refGemm(a.subarray(i * m * k), w, m, n, k)) < TOL, `shared b ${i}`);
      t.ok(normError(yl.subarray(i * m * n, (i + 1) * m * n), refGemm(v, b.subarray(i * k * n), m, n, k)) < TOL, `shared a ${i}`);
    }
  });

  t.test(`matmul on ${device}: the residual may be an operand`, async (t) => {
    const n = sim ? 24 : 40;
    for (const dtype of ['f32', 'f16'] as const) {
      const A = tensor(randomArray(n * n, 31), [n, n], { ...opts, dtype }), B = tensor(randomArray(n * n, 32), [n, n], { ...opts, dtype });
      const a = A.toFloat32(), b = B.toFloat32();
      const y = ops.matmul(A, B, { residual: A, activation: 'silu' });
      const ref = refGemm(a, b, n, n, n, { residual: a, activation: 'silu' });
      if (dtype === 'f32') t.ok(normError(y.data() as Float32Array, ref) < TOL, 'f32: residual = a');
      else {
        const { err, bound } = halfError(y.toFloat32(), ref, dtype);
        t.ok(err <= bound, `f16: residual = a: error ${err} (bound ${bound})`);
      }
      t.same(Array.from(A.toFloat32()), Array.from(a), 'the operand is unchanged');
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
    // cuda: tensor cores (f32 accumulation); 8-aligned leading dims take cp.async, the others scalar staging.
    const cases: Shape3[] = sim
      ? [[77, 33, 40], [72, 48, 40], [16, 8, 16], [5, 70, 1], [33, 130, 72], [136, 130, 40]]
      : [[1, 1, 1], [9, 10, 40], [77, 33, 40], [72, 48, 40], [130, 67, 257], [64, 80, 320], [5, 129, 1], [300, 264, 96]];
    for (const tile of tiles) withTile(tile, () => {
      let seed = 100;
      for (const dtype of ['f16', 'bf16'] as const) {
        const o = { ...opts, dtype };
        for (const [m, n, k] of cases) {
          for (const transA of [false, true]) for (const transB of [false, true]) {
            const A = tensor(randomArray(m * k, seed++), transA ? [k, m] : [m, k], o);
            const B = tensor(randomArray(k * n, seed++), transB ? [n, k] : [k, n], o);
            const y = ops.matmul(A, B, { transA, transB });
            t.equal(y.dtype, dtype);
            const { err, bound } = halfError(y.toFloat32(), refGemm(A.toFloat32(), B.toFloat32(), m, n, k, { transA, transB }), dtype);
            if (!(err <= bound)) t.fail(`${dtype} tile ${tile} m=${m} n=${n} k=${k} tA=${transA} tB=${transB}: error ${err} > ${bound}`);
            for (const x of [A, B, y]) x.dispose();
          }
        }
        // N = 33 stores C element by element, N = 48 in 16-byte pieces (bias and residual read likewise).
        for (const [activation, [m, n, k]] of (Object.keys(act) as (keyof typeof act)[]).flatMap(
          (a) => [[a, [77, 33, 40]], [a, [77, 48, 40]]] as [keyof typeof act, Shape3][])) {
          const A = tensor(randomArray(m * k, seed++, 2), [m, k], o), B = tensor(randomArray(k * n, seed++), [k, n], o);
          const bias = tensor(randomArray(n, seed++), [n], o), res = tensor(randomArray(m * n, seed++), [m, n], o);
          const y = ops.matmul(A, B, { bias, residual: res, activation });
          const ref = refGemm(A.toFloat32(), B.toFloat32(), m, n, k, { bias: bias.toFloat32(), residual: res.toFloat32(), activation });
          const { err, bound } = halfError(y.toFloat32(), ref, dtype);
          t.ok(err <= bound, `${dtype} tile ${tile} epilogue ${activation} n=${n}: error ${err} (bound ${bound})`);
        }
        const [bt, m, n, k] = [3, 20, 33, 40];
        const A = tensor(randomArray(bt * m * k, seed++), [bt, m, k], o), W = tensor(randomArray(k * n, seed++), [k, n], o);
        const V = tensor(randomArray(m * k, seed++), [m, k], o), Bb = tensor(randomArray(bt * k * n, seed++), [bt, k, n], o);
        const a = A.toFloat32(), w = W.toFloat32(), v = V.toFloat32(), bb = Bb.toFloat32();
        const [ys, yl, yb] = [ops.matmul(A, W), ops.matmul(V, Bb), ops.matmul(A, Bb)].map((y) => y.toFloat32());
        for (let i = 0; i < bt; i++) {
          const part = (y: Float32Array) => y.subarray(i * m * n, (i + 1) * m * n);
          const ai = a.subarray(i * m * k, (i + 1) * m * k), bi = bb.subarray(i * k * n, (i + 1) * k * n);
          for (const [name, y, ref] of [['shared b', ys, refGemm(ai, w, m, n, k)], ['shared a', yl, refGemm(v, bi, m, n, k)],
            ['batched', yb, refGemm(ai, bi, m, n, k)]] as [string, Float32Array, Float64Array][]) {
            const { err, bound } = halfError(part(y), ref, dtype);
            t.ok(err <= bound, `${dtype} tile ${tile} ${name} ${i}: error ${err} (bound ${bound})`);
          }
        }
      }
    });
    const k0 = ops.matmul(zeros([2, 0], { ...opts, dtype: 'f16' }), zeros([0, 3], { ...opts, dtype: 'f16' }),
      { bias: tensor([1, 2, 3], [3], { ...opts, dtype: 'f16' }), activation: 'silu' });
    t.same(Array.from(k0.toFloat32()), Array.from(tensor([1, 2, 3, 1, 2, 3].map(act.silu), [6], { dtype: 'f16' }).toFloat32()),
      'f16, K = 0: silu(bias) only');
    const nan = ops.matmul(tensor([NaN, 1, 2, 3], [2, 2], { ...opts, dtype: 'bf16' }), tensor([1, 0, 0, 1], [2, 2], { ...opts, dtype: 'bf16' }));
    const nv = nan.toFloat32();
    t.ok(Number.isNaN(nv[0]!) && Number.isNaN(nv[1]!), 'bf16: NaN propagates');
    t.same(Array.from(nv.slice(2)), [2, 3]);
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

if (testDevices('gemm').includes('cuda-sim')) {
  t.test('matmul on cuda-sim: a random thread schedule gives the same bits', async (t) => {
    const run = (dtype: 'f32' | 'f16' | 'bf16', tile: string) => withTile(tile, () => {
      const o = { device: 'cuda-sim' as const, dtype };
      const A = tensor(randomArray(77 * 40, 41), [40, 77], o), B = tensor(randomArray(33 * 40, 42), [33, 40], o);
      const res = tensor(randomArray(77 * 33, 43), [77, 33], o), bias = tensor(randomArray(33, 44), [33], o);
      return ops.matmul(A, B, { transA: true, transB: true, bias, residual: res, activation: 'gelu' }).toFloat32();
    });
    const saved = native.simConfigure();
    try {
      for (const dtype of ['f32', 'f16', 'bf16'] as const) for (const tile of ['64', '128']) {
        native.simConfigure({ seed: 0, threads: 1 });
        const ordered = run(dtype, tile);
        native.simConfigure({ seed: 20261125, threads: 2 });
        const shuffled = run(dtype, tile);
        t.same(new Uint32Array(shuffled.buffer), new Uint32Array(ordered.buffer), `${dtype} tile ${tile}`);
      }
    } finally {
      native.simConfigure(saved);
    }
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
