// Attention in compute, capture and replay modes against a float64 reference, on every device with the op.
// The CPU computes in f32 (tolerance 1e-5). The CUDA kernels (cuda, cuda-sim) round q, k, v and P to f16 for
// the tensor cores: they must stay within 2× the error of a naive attention at that precision
// (refHalf: f16-rounded q, k, v, exact softmax, P rounded to f16, P·V in float64), the flash-attention rule.
import t from 'tap';

import { countMacs, ops, Tensor, tensor, zeros } from '../dist/src/index.js';
import { native } from '../dist/src/native.js';
import { isSim, normError, randomArray, refAttention, sameUnderSimSchedules, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });
const TOL = 1e-5;

/** Values rounded to f16 or bf16 (round to nearest even, by the CPU cast). */
function roundHalf(x: ArrayLike<number>, dtype: 'f16' | 'bf16' = 'f16'): Float32Array {
  const h = tensor(Float32Array.from(x), [x.length], { dtype });
  const r = h.toFloat32();
  h.dispose();
  return r;
}

/** The naive same-precision reference of the tensor-core kernels (see the top of the file). */
function refHalf(q: Float32Array, k: Float32Array, v: Float32Array, b: number, n: number, m: number, heads: number,
  d: number, causal = false, scale?: number): { out: Float64Array; probs: Float64Array } {
  const vh = roundHalf(v);
  const r = refAttention(roundHalf(q), roundHalf(k), vh, b, n, m, heads, d, causal, scale);
  const p = roundHalf(r.probs);
  const c = heads * d, out = new Float64Array(b * n * c);
  for (let bb = 0; bb < b; bb++) for (let h = 0; h < heads; h++) for (let i = 0; i < n; i++) {
    const prow = ((bb * heads + h) * n + i) * m;
    for (let j = 0; j < m; j++) {
      const pj = p[prow + j]!;
      for (let x = 0; x < d; x++) out[(bb * n + i) * c + h * d + x]! += pj * vh[(bb * m + j) * c + h * d + x]!;
    }
  }
  return { out, probs: r.probs };
}

/** Largest |row sum − 1| of probs [.., m]. */
function rowSumError(p: Float32Array, m: number): number {
  let worst = 0;
  for (let r = 0; r < p.length / m; r++) {
    let s = 0;
    for (let j = 0; j < m; j++) s += p[r * m + j]!;
    worst = Math.max(worst, Math.abs(s - 1));
  }
  return worst;
}

for (const device of testDevices('attention')) {
  const opts = { device: device as 'cpu' };
  const sim = isSim(device), tensorCores = device !== 'cpu';
  // err must be within the device's tolerance; `naive` is the same-precision reference's error.
  const within = (err: number, naive: number) => err <= (tensorCores ? 2 * naive : TOL);

  t.test(`attention on ${device}: compute and capture match the reference`, async (t) => {
    // [batch, n, m, heads, headDim, causal]. On the simulator: query tails of the 64-query block (96, 77),
    // head dims padded to 48 (40), exact (80, 160) and generic (7 → 32), cross-attention m = 77, causal n ≠ m
    // over several key tiles, every other instance (96, 128, 200 → 256, 256), one head dim above the
    // tensor-core instances (264: the SIMT kernel).
    const cases = sim ? [
      [1, 96, 96, 1, 40, false], [1, 77, 77, 2, 40, true], [2, 33, 77, 1, 80, false], [1, 17, 9, 1, 160, false],
      [1, 21, 45, 1, 160, true], [1, 5, 7, 2, 7, false], [1, 1, 1, 1, 1, false], [1, 70, 150, 1, 64, true],
      [1, 3, 20, 1, 264, true], [2, 130, 130, 2, 80, true], [1, 64, 64, 8, 40, false], [2, 5, 77, 2, 160, false],
      [1, 20, 33, 1, 96, false], [1, 20, 40, 1, 128, true], [1, 9, 20, 1, 200, false], [1, 6, 19, 1, 256, true],
    ] : [
      [1, 1, 1, 1, 1, false], [2, 5, 77, 2, 40, false], [1, 77, 77, 3, 64, true], [1, 130, 130, 2, 40, false],
      [2, 33, 77, 1, 80, false], [1, 17, 9, 2, 160, false], [1, 64, 64, 8, 40, true], [1, 257, 77, 1, 7, false],
      [1, 9, 12, 1, 16, true], [1, 21, 45, 1, 160, true], [1, 3, 20, 1, 264, true],
    ];
    let seed = 300;
    for (const [b, n, m, heads, d, causal] of cases as [number, number, number, number, number, boolean][]) {
      const c = heads * d;
      const q = randomArray(b * n * c, seed++, 2), k = randomArray(b * m * c, seed++, 2), v = randomArray(b * m * c, seed++);
      const ref = refAttention(q, k, v, b, n, m, heads, d, causal);
      const half = refHalf(q, k, v, b, n, m, heads, d, causal);
      const naive = normError(half.out, ref.out), naiveP = normError(half.probs, ref.probs);
      const Q = tensor(q, [b, n, c], opts), K = tensor(k, [b, m, c], opts), V = tensor(v, [b, m, c], opts);
      const out = ops.attention(Q, K, V, { heads, causal });
      const err = normError(out.data() as Float32Array, ref.out);
      const probs = zeros([b, heads, n, m], opts);
      const cap = ops.attention(Q, K, V, { heads, causal, mode: 'capture', probs });
      const errCap = normError(cap.data() as Float32Array, ref.out);
      const p = probs.data() as Float32Array;
      const errP = normError(p, ref.probs);
      const rep = ops.attention(null, null, V, { heads, mode: 'replay', probs });
      const errRep = normError(rep.data() as Float32Array, ref.out);
      const repVsCompute = normError(rep.data() as Float32Array, out.data() as Float32Array);
      const label = `b=${b} n=${n} m=${m} h=${heads} d=${d}${causal ? ' causal' : ''}`;
      t.ok(within(err, naive) && within(errCap, naive) && within(errP, naiveP) && within(errRep, naive) &&
        within(repVsCompute, 2 * naive),
        `${label}: compute ${err.toExponential(2)}, capture ${errCap.toExponential(2)}, probs ${errP.toExponential(2)}, ` +
        `replay ${errRep.toExponential(2)}, replay vs compute ${repVsCompute.toExponential(2)} (f16 naive ${naive.toExponential(2)})`);
      t.ok(rowSumError(p, m) < 1e-5, `${label}: probability rows sum to 1`);
      if (tensorCores) t.same(cap.data(), out.data(), `${label}: capture output is the compute output`);
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
    const err = normError(rep.data() as Float32Array, ref.out), naive = normError(refHalf(q, k, v2, b, n, m, heads, d).out, ref.out);
    t.ok(within(err, naive), `replay error ${err.toExponential(2)} (f16 naive ${naive.toExponential(2)})`);
  });

  t.test(`attention on ${device}: dtypes, NaN, custom scale`, async (t) => {
    const [b, n, m, heads, d] = [1, 6, 8, 2, 40];
    const c = heads * d;
    const q = randomArray(b * n * c, 7), k = randomArray(b * m * c, 8), v = randomArray(b * m * c, 9);
    const scaled = ops.attention(tensor(q, [b, n, c], opts), tensor(k, [b, m, c], opts), tensor(v, [b, m, c], opts), { heads, scale: 0.3 });
    const refScaled = refAttention(q, k, v, b, n, m, heads, d, false, 0.3).out;
    const errScaled = normError(scaled.data() as Float32Array, refScaled);
    t.ok(within(errScaled, normError(refHalf(q, k, v, b, n, m, heads, d, false, 0.3).out, refScaled)), `scale 0.3: ${errScaled.toExponential(2)}`);
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

  t.test(`attention on ${device}: f16 and bf16 tensors in every mode`, async (t) => {
    // On cuda/cuda-sim the flash kernel reads the half data directly (mma in the tensor's own type); the CPU
    // widens to f32 and rounds the output once. References use the half-rounded inputs; the naive bound
    // rounds P and the output to the dtype too. Head dim 264 takes the entry's f32 fallback.
    const cases = [[1, 77, 77, 2, 40, true], [2, 33, 77, 1, 80, false], [1, 17, 9, 1, 160, false], [1, 5, 7, 1, 7, false],
      [1, 3, 20, 1, 264, false]] as [number, number, number, number, number, boolean][];
    let seed = 700;
    for (const dtype of ['f16', 'bf16'] as const) {
      const unit = dtype === 'f16' ? 2 ** -11 : 2 ** -8;
      for (const [b, n, m, heads, d, causal] of cases) {
        const c = heads * d;
        const q = roundHalf(randomArray(b * n * c, seed++, 2), dtype), k = roundHalf(randomArray(b * m * c, seed++, 2), dtype);
        const v = roundHalf(randomArray(b * m * c, seed++), dtype);
        const ref = refAttention(q, k, v, b, n, m, heads, d, causal);
        const p = roundHalf(ref.probs, dtype), naiveOut = new Float64Array(b * n * c);
        for (let bb = 0; bb < b; bb++) for (let h = 0; h < heads; h++) for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
          const pj = p[((bb * heads + h) * n + i) * m + j]!;
          for (let x = 0; x < d; x++) naiveOut[(bb * n + i) * c + h * d + x]! += pj * v[(bb * m + j) * c + h * d + x]!;
        }
        const naive = normError(roundHalf(naiveOut, dtype), ref.out);
        const ok = (err: number) => err <= (tensorCores && d <= 256 ? 2 * naive : unit + TOL);
        const o = { ...opts, dtype };
        const Q = tensor(q, [b, n, c], o), K = tensor(k, [b, m, c], o), V = tensor(v, [b, m, c], o);
        const out = ops.attention(Q, K, V, { heads, causal });
        const probs = zeros([b, heads, n, m], opts);
        const cap = ops.attention(Q, K, V, { heads, causal, mode: 'capture', probs });
        const rep = ops.attention(null, null, V, { heads, mode: 'replay', probs });
        const errs = [out, cap, rep].map((x) => normError(x.toFloat32(), ref.out));
        const label = `${dtype} b=${b} n=${n} m=${m} h=${heads} d=${d}${causal ? ' causal' : ''}`;
        t.ok(out.dtype === dtype && rep.dtype === dtype && errs.every(ok),
          `${label}: compute/capture/replay ${errs.map((e) => e.toExponential(2)).join('/')} (naive ${naive.toExponential(2)})`);
        t.ok(rowSumError(probs.data() as Float32Array, m) < 1e-5, `${label}: probability rows sum to 1`);
        for (const x of [Q, K, V, out, probs, cap, rep]) x.dispose();
      }
    }
  });

  t.test(`attention on ${device}: q, k, v as column slices of fused projections (row strides)`, async (t) => {
    // The launchers take row strides (AttentionArgs); attentionSlices (internal) reaches them directly:
    // q from a [b, n, 3c + 4] "qkv" matrix, k and v from a [b, m, 2c + 3] "kv" matrix (odd width: unaligned
    // rows), out written into columns [5, 5 + c) of a zero-filled [b, n, c + 9] matrix.
    const cases = [[1, 77, 77, 2, 40, true], [2, 19, 77, 1, 80, false], [1, 9, 30, 1, 160, true], [1, 5, 6, 1, 264, false]] as
      [number, number, number, number, number, boolean][];
    let seed = 900;
    for (const [b, n, m, heads, d, causal] of cases) {
      const c = heads * d, wq = 3 * c + 4, wkv = 2 * c + 3, wo = c + 9;
      const qkv = randomArray(b * n * wq, seed++, 2), kv = randomArray(b * m * wkv, seed++, 2);
      const cols = (x: Float32Array, rows: number, width: number, off: number) => {
        const r = new Float32Array(rows * c);
        for (let i = 0; i < rows; i++) r.set(x.subarray(i * width + off, i * width + off + c), i * c);
        return r;
      };
      const q = cols(qkv, b * n, wq, c + 2), k = cols(kv, b * m, wkv, 1), v = cols(kv, b * m, wkv, c + 2);
      const ref = refAttention(q, k, v, b, n, m, heads, d, causal);
      const naive = normError(refHalf(q, k, v, b, n, m, heads, d, causal).out, ref.out);
      const QKV = tensor(qkv, [b, n, wq], opts), KV = tensor(kv, [b, m, wkv], opts);
      const handle = native.attentionSlices(QKV.handle, KV.handle, KV.handle, {
        channels: c, heads, qOffset: c + 2, kOffset: 1, vOffset: c + 2, outOffset: 5, outWidth: wo, causal });
      const out = Tensor.fromHandle(handle, [b, n, wo], 'f32', device as 'cpu');
      const got = out.data() as Float32Array;
      const label = `b=${b} n=${n} m=${m} h=${heads} d=${d}${causal ? ' causal' : ''}`;
      const err = normError(cols(got, b * n, wo, 5), ref.out);
      t.ok(err <= (tensorCores && d <= 256 ? 2 * naive : TOL), `${label}: ${err.toExponential(2)} (f16 naive ${naive.toExponential(2)})`);
      let outside = 0;
      for (let i = 0; i < b * n; i++) for (let x = 0; x < wo; x++) if ((x < 5 || x >= 5 + c) && got[i * wo + x] !== 0) outside++;
      t.equal(outside, 0, `${label}: columns outside the slice untouched`);
      for (const x of [QKV, KV, out]) x.dispose();
    }
    const z = zeros([1, 4, 10], opts);
    t.throws(() => native.attentionSlices(z.handle, z.handle, z.handle, { channels: 8, heads: 2, qOffset: 3 }), code('ARG'));
    z.dispose();
  });

  t.test(`attention on ${device}: NaN spreads as on the CPU`, async (t) => {
    // A NaN query value poisons its own row (of its head); a NaN key value every row of its head (every
    // query sees that key); a NaN value entry its own column of its head in every row (0·NaN = NaN).
    const [b, n, m, heads, d] = [1, 9, 70, 2, 40];
    const c = heads * d;
    const run = (which: 'q' | 'k' | 'v', index: number) => {
      const q = randomArray(b * n * c, 51), k = randomArray(b * m * c, 52), v = randomArray(b * m * c, 53);
      ({ q, k, v })[which][index] = NaN;
      const out = ops.attention(tensor(q, [b, n, c], opts), tensor(k, [b, m, c], opts), tensor(v, [b, m, c], opts), { heads });
      return Array.from(out.data() as Float32Array, Number.isNaN);
    };
    const expect = (f: (i: number, col: number) => boolean) =>
      Array.from({ length: b * n * c }, (_, x) => f(Math.floor(x / c), x % c));
    t.same(run('q', 2 * c + 3), expect((i, col) => i === 2 && col < d), 'q[2, head 0] → row 2 of head 0');
    t.same(run('k', 5 * c + d + 1), expect((_, col) => col >= d), 'k[5, head 1] → all of head 1');
    t.same(run('v', 7 * c + 6), expect((_, col) => col === 6), 'v[7, head 0, dim 6] → column 6');
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

t.test('attention on cuda-sim: identical bits under random schedules', { skip: testDevices('attention').includes('cuda-sim') ? false : 'cuda-sim not available' }, async (t) => {
  // Every reduction in the flash kernel has a fixed order (quad shuffles, mma k order, key tiles in sequence),
  // so the resume order of the fibers and the parallel block order must not change a bit; a missing barrier
  // or cp.async wait would show here as NaN reads or seed-dependent output.
  const opts = { device: 'cuda-sim' as const };
  const [b, n, m, heads, d] = [1, 77, 90, 2, 40];
  const c = heads * d;
  const q = randomArray(b * n * c, 41, 2), k = randomArray(b * m * c, 42, 2), v = randomArray(b * m * c, 43);
  const run = () => {
    const Q = tensor(q, [b, n, c], opts), K = tensor(k, [b, m, c], opts), V = tensor(v, [b, m, c], opts);
    const probs = zeros([b, heads, n, m], opts);
    const out = ops.attention(Q, K, V, { heads, causal: true, mode: 'capture', probs });
    const rep = ops.attention(null, null, V, { heads, mode: 'replay', probs });
    const r = { out: Array.from(out.data()), probs: Array.from(probs.data()), replay: Array.from(rep.data()) };
    for (const x of [Q, K, V, probs, out, rep]) x.dispose();
    return r;
  };
  const reference = sameUnderSimSchedules(t, run);
  t.notOk(reference.out.some(Number.isNaN), 'no NaN (no poisoned shared memory read)');
});

t.test('attention on meta: shapes and MACs (attention products only under "all")', async (t) => {
  const meta = { device: 'meta' as const };
  const { result, counter } = countMacs(() => ops.attention(zeros([2, 4096, 320], meta), zeros([2, 77, 320], meta), zeros([2, 77, 320], meta), { heads: 8 }));
  t.same(result.shape, [2, 4096, 320]);
  t.equal(counter.total('modules'), 0);
  t.equal(counter.total('all'), 2 * 2 * 8 * 4096 * 77 * 40);
  const replay = countMacs(() => ops.attention(null, null, zeros([2, 77, 320], meta), { heads: 8, mode: 'replay', probs: zeros([2, 8, 4096, 77], meta) }));
  t.equal(replay.counter.total('all'), 2 * 8 * 4096 * 77 * 40, 'replay skips q·kᵀ');
});
