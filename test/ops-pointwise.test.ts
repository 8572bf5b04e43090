// Norms, softmax, element-wise ops, layout ops, timestep embedding and similarity reductions.
import t from 'tap';

import { countMacs, ops, tensor, zeros } from '../dist/src/index.js';
import { act, isSim, normError, randomArray, testDevices } from './helpers/reference';

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

/** Rows of x [rows, cols] softmaxed in float64. */
function refSoftmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const ref = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity, s = 0;
    for (let i = 0; i < cols; i++) mx = Math.max(mx, x[r * cols + i]!);
    for (let i = 0; i < cols; i++) s += Math.exp(x[r * cols + i]! - mx);
    for (let i = 0; i < cols; i++) ref[r * cols + i] = Math.exp(x[r * cols + i]! - mx) / s;
  }
  return ref;
}

function refLayerNorm(x: ArrayLike<number>, rows: number, cols: number, g: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-5): Float64Array {
  const ref = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let mean = 0, v = 0;
    for (let i = 0; i < cols; i++) mean += x[r * cols + i]!;
    mean /= cols;
    for (let i = 0; i < cols; i++) v += (x[r * cols + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / cols + eps);
    for (let i = 0; i < cols; i++) ref[r * cols + i] = (x[r * cols + i]! - mean) * rstd * g[i]! + b[i]!;
  }
  return ref;
}

/** Same NaN positions, and equal values elsewhere within a relative tolerance (Infinity must match exactly). */
function sameSpecials(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): boolean {
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w) !== Number.isNaN(g)) return false;
    if (!Number.isNaN(w) && g !== w && !(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) return false;
  }
  return true;
}

/** f32 values rounded through a 16-bit dtype and back (what the device sees after the cast). */
function rounded(x: Float32Array, dtype: 'f16' | 'bf16'): Float32Array {
  return tensor(x, [x.length], { dtype }).toFloat32();
}

for (const device of testDevices('group_norm', 'layer_norm', 'cast')) {
  const opts = { device: device as 'cpu' };
  const sim = isSim(device);
  t.test(`groupNorm and layerNorm on ${device}`, async (t) => {
    // [n, c, h, w, groups, silu]: a group smaller than the block (2·5·7 = 70), groups that span several
    // blocks' worth of threads (6·9·11 = 594), spatial % 4 == 0 (packed loads), one value per channel, and
    // few large groups that the GPU splits over several blocks (3·45·47 = 6345 in 3 uneven chunks; 2·48·48
    // = 4608 in 2 packed chunks).
    const cases: [number, number, number, number, number, boolean][] = [[1, 32, 5, 7, 8, false], [2, 6, 5, 7, 3, true],
      [1, 12, 9, 11, 2, true], [1, 4, 1, 1, 2, false], [2, 64, 4, 4, 8, true], [1, 6, 45, 47, 2, true], [1, 4, 48, 48, 2, false]];
    if (!sim) cases.push([1, 320, 8, 8, 32, true], [1, 20, 64, 64, 2, false]);
    for (const [n, c, h, w, groups, silu] of cases) {
      const x = randomArray(n * c * h * w, c + h, 3), g = randomArray(c, 5), b = randomArray(c, 6);
      const y = ops.groupNorm(tensor(x, [n, c, h, w], opts), groups, { weight: tensor(g, [c], opts), bias: tensor(b, [c], opts), eps: 1e-6, silu });
      const err = normError(y.data() as Float32Array, refGroupNorm(x, n, c, h * w, groups, g, b, 1e-6, silu));
      t.ok(err < 5e-6, `groupNorm ${[n, c, h, w, groups, silu]}: ${err}`);
    }
    const ones = new Float32Array(8).fill(1), zero = new Float32Array(8);
    const xo = Float32Array.from(randomArray(2 * 8 * 12, 31, 20), (v) => v + 300);  // large offset, no affine
    const yo = ops.groupNorm(tensor(xo, [2, 8, 12], opts), 4, { silu: true }).data();
    t.ok(normError(yo, refGroupNorm(xo, 2, 8, 12, 4, ones, zero, 1e-5, true)) < 5e-6, 'groupNorm with an offset, no affine');
    // [rows, cols]: one warp per row (40: packed, 37: odd), one block per row (1500 and 2052 > 1024).
    const lnCases: [number, number][] = [[3 * 77, 40], [5, 37], [3, 1500], [2, 2052]];
    for (const [rows, cols] of lnCases) {
      const x = Float32Array.from(randomArray(rows * cols, cols), (v) => v * 50 + 1000);  // large offset: needs a stable variance
      const g = randomArray(cols, 9), b = randomArray(cols, 10);
      const y = ops.layerNorm(tensor(x, [rows, cols], opts), { weight: tensor(g, [cols], opts), bias: tensor(b, [cols], opts) }).data();
      const err = normError(y, refLayerNorm(x, rows, cols, g, b));
      t.ok(err < 5e-6, `layerNorm [${rows}, ${cols}]: ${err}`);
    }
    const plain = ops.groupNorm(tensor([1, 2, 3, 4], [1, 2, 2], opts), 1).data();
    t.ok(Math.abs(plain[0]! + 1.3416) < 1e-3, 'no affine parameters');
    const lnPlain = ops.layerNorm(tensor([1, 2, 3, 4, 5], [1, 5], opts)).data();
    t.ok(Math.abs(lnPlain[0]! + 1.41421) < 1e-4, 'layerNorm without affine parameters');
    t.throws(() => ops.groupNorm(zeros([1, 6, 2, 2], opts), 4), code('ARG'));
    t.throws(() => ops.groupNorm(zeros([6], opts), 2), code('SHAPE'));
    t.throws(() => ops.groupNorm(zeros([1, 6, 2], opts), 2, { weight: zeros([5], opts) }), code('SHAPE'));
    t.throws(() => ops.groupNorm(zeros([1, 6, 2], opts), 2, { eps: -1 }), code('ARG'));
    t.throws(() => ops.layerNorm(zeros([2, 6], opts), { bias: zeros([2], opts) }), code('SHAPE'));
    const nan = ops.groupNorm(tensor([NaN, 1, 2, 3], [1, 2, 2], opts), 2).data();
    t.ok(Number.isNaN(nan[0]!) && !Number.isNaN(nan[2]!), 'NaN stays inside its group');
    const inf = ops.layerNorm(tensor([1, Infinity, 3, 1, 2, 3], [2, 3], opts)).data();
    t.ok(Number.isNaN(inf[0]!) && !Number.isNaN(inf[3]!), 'Inf poisons its own row only');
    // f16/bf16 storage: the entry widens, computes in f32 and rounds back.
    for (const dtype of ['f16', 'bf16'] as const) {
      const [n, c, h, w] = [2, 6, 5, 7];
      const x = rounded(randomArray(n * c * h * w, 41, 3), dtype), g = rounded(randomArray(c, 42), dtype), b = rounded(randomArray(c, 43), dtype);
      const o16 = { ...opts, dtype };
      const y = ops.groupNorm(tensor(x, [n, c, h, w], o16), 3, { weight: tensor(g, [c], o16), bias: tensor(b, [c], o16), silu: true });
      t.equal(y.dtype, dtype);
      const tol = dtype === 'f16' ? 1e-3 : 8e-3;  // one rounding of the output
      t.ok(normError(y.toFloat32(), refGroupNorm(x, n, c, h * w, 3, g, b, 1e-5, true)) < tol, `groupNorm ${dtype}`);
      const l = ops.layerNorm(tensor(x, [n * c, h * w], o16)).toFloat32();
      t.ok(normError(l, refLayerNorm(x, n * c, h * w, new Float32Array(35).fill(1), new Float32Array(35))) < tol, `layerNorm ${dtype}`);
    }
  });
}

for (const device of testDevices('softmax', 'cast')) {
  const opts = { device: device as 'cpu' };
  t.test(`softmax on ${device}`, async (t) => {
    // One warp per row (77: odd, 8: packed, 1), one block per row (1100: odd, 2052: packed).
    for (const [rows, cols] of [[5, 77], [9, 8], [3, 1], [3, 1100], [2, 2052]] as [number, number][]) {
      const x = randomArray(rows * cols, 11 + cols, 8);
      const err = normError(ops.softmax(tensor(x, [rows, cols], opts)).data(), refSoftmax(x, rows, cols));
      // The CPU sums a row in f32 sequentially: its error grows with the row length.
      t.ok(err < (cols > 1024 ? 5e-6 : 1e-6), `softmax [${rows}, ${cols}]: ${err}`);
    }
    const special = ops.softmax(tensor([-Infinity, -Infinity, 1, NaN], [2, 2], opts)).data();
    t.same(Array.from(special.slice(0, 2)), [0, 0], 'all −inf row gives zeros');
    t.ok(Number.isNaN(special[2]!) && Number.isNaN(special[3]!), 'NaN row gives NaN');
    // Special values in short and long rows behave exactly as on the CPU (the reference backend).
    for (const cols of [6, 1500]) {
      const rows = [[-Infinity], [NaN], [Infinity], [Infinity, -Infinity], [-Infinity, 2]];
      const x = new Float32Array(rows.length * cols);
      rows.forEach((vals, r) => {
        for (let i = 0; i < cols; i++) x[r * cols + i] = i < vals.length ? vals[i]! : (vals[0] === -Infinity && vals.length === 1 ? -Infinity : i % 5 - 2);
      });
      const got = ops.softmax(tensor(x, [rows.length, cols], opts)).data();
      const want = ops.softmax(tensor(x, [rows.length, cols])).data();
      t.ok(sameSpecials(got, want, 1e-6), `special values, ${cols} columns, as on the CPU`);
    }
    for (const dtype of ['f16', 'bf16'] as const) {
      const x = rounded(randomArray(4 * 50, 44, 4), dtype);
      const y = ops.softmax(tensor(x, [4, 50], { ...opts, dtype }));
      t.ok(normError(y.toFloat32(), refSoftmax(x, 4, 50)) < (dtype === 'f16' ? 1e-3 : 8e-3), `softmax ${dtype}`);
    }
  });
}

for (const device of testDevices('unary', 'geglu', 'cast')) {
  const opts = { device: device as 'cpu' };
  t.test(`activations on ${device}`, async (t) => {
    for (const len of [1000, 1003]) {  // packed, and packed with a scalar tail
      const v = randomArray(len, 12, 6);
      const V = tensor(v, [len], opts);
      const check = (name: string, got: ArrayLike<number>, f: (x: number) => number, tol: number) => {
        const err = normError(got, Array.from(v, f));
        t.ok(err < tol, `${name} (${len}): ${err}`);
      };
      check('gelu', ops.gelu(V).data(), act.gelu, 1e-6);
      check('gelu tanh', ops.gelu(V, { approximate: 'tanh' }).data(), act.gelu_tanh, 1e-6);
      check('silu', ops.silu(V).data(), act.silu, 1e-6);
      check('quickGelu', ops.quickGelu(V).data(), act.quick_gelu, 1e-6);
      check('scale', ops.scale(V, 0.5, 2).data(), (x) => 0.5 * x + 2, 1e-7);
      check('relu', ops.relu(V).data(), (x) => Math.max(x, 0), 1e-12);
      check('tanh', ops.tanh(V, 1 / 3).data(), (x) => Math.tanh(x / 3), 1e-6);
      check('sigmoid', ops.sigmoid(V).data(), (x) => 1 / (1 + Math.exp(-x)), 1e-6);
    }
    t.ok(Number.isNaN(ops.relu(tensor([NaN], [1], opts)).data()[0]!), 'NaN propagates through relu');
    t.ok(Number.isNaN(ops.silu(tensor([NaN], [1], opts)).data()[0]!), 'NaN propagates through silu');
    // NaN/±Inf through every activation exactly as on the CPU.
    const specials = [NaN, Infinity, -Infinity, 0, -0, 100, -100, 1e-30];
    const S = tensor(specials, [specials.length], opts), C = tensor(specials, [specials.length]);
    const pairs: [string, (x: typeof S) => typeof S][] = [['gelu', (x) => ops.gelu(x)], ['gelu tanh', (x) => ops.gelu(x, { approximate: 'tanh' })],
      ['silu', (x) => ops.silu(x)], ['quickGelu', (x) => ops.quickGelu(x)], ['relu', (x) => ops.relu(x)], ['tanh', (x) => ops.tanh(x)],
      ['sigmoid', (x) => ops.sigmoid(x)], ['scale', (x) => ops.scale(x, -2, 1)]];
    for (const [name, f] of pairs) t.ok(sameSpecials(f(S).data(), f(C).data(), 1e-6), `${name}: special values as on the CPU`);
    // GEGLU: 50 columns (odd packs: one value at a time), 64 (packed), tanh and erf.
    for (const [rows, cols, tanh] of [[10, 50, false], [3, 64, true], [7, 3, false]] as [number, number, boolean][]) {
      const v = randomArray(rows * 2 * cols, 50 + cols, 3);
      const gg = ops.geglu(tensor(v, [rows, 2 * cols], opts), tanh ? { approximate: 'tanh' } : undefined).data();
      const ggRef = new Float64Array(rows * cols);
      const f = tanh ? act.gelu_tanh : act.gelu;
      for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) ggRef[r * cols + i] = v[r * 2 * cols + i]! * f(v[r * 2 * cols + cols + i]!);
      t.ok(normError(gg, ggRef) < 1e-6, `geglu [${rows}, ${2 * cols}] ${tanh ? 'tanh' : 'erf'}`);
    }
    t.throws(() => ops.geglu(zeros([3, 5], opts)), code('SHAPE'));
    t.throws(() => ops.gelu(tensor([1], [1], opts), { approximate: 'fast' as 'tanh' }), code('ARG'));
    for (const dtype of ['f16', 'bf16'] as const) {
      const v = rounded(randomArray(301, 45, 4), dtype);
      const y = ops.gelu(tensor(v, [301], { ...opts, dtype }));
      t.ok(normError(y.toFloat32(), Array.from(v, act.gelu)) < (dtype === 'f16' ? 1e-3 : 8e-3), `gelu ${dtype}`);
    }
  });
}

/** out = a op b with numpy broadcasting, float64. */
function refBroadcast(a: ArrayLike<number>, as: number[], b: ArrayLike<number>, bs: number[], f: (x: number, y: number) => number): { out: Float64Array; shape: number[] } {
  const nd = Math.max(as.length, bs.length);
  const pa = [...Array(nd - as.length).fill(1), ...as], pb = [...Array(nd - bs.length).fill(1), ...bs];
  const shape = pa.map((d, i) => Math.max(d, pb[i]!));
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (let d = nd - 1; d >= 0; d--) {
      const idx = rem % shape[d]!;
      rem = Math.floor(rem / shape[d]!);
      if (pa[d]! > 1) ia += idx * sa;
      if (pb[d]! > 1) ib += idx * sb;
      sa *= pa[d]!;
      sb *= pb[d]!;
    }
    out[i] = f(a[ia]!, b[ib]!);
  }
  return { out, shape };
}

for (const device of testDevices('binary', 'cast')) {
  const opts = { device: device as 'cpu' };
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
    // Stride-0 dims in the middle, on both sides, up to 8 dims; contiguous with a tail; a scalar operand.
    const fns = { add: (x: number, y: number) => x + y, sub: (x: number, y: number) => x - y, mul: (x: number, y: number) => x * y, div: (x: number, y: number) => x / y };
    const shapes: [number[], number[]][] = [[[5, 1, 7], [1, 6, 7]], [[2, 1, 2, 1, 3, 1, 2, 3], [1, 2, 1, 2, 1, 3, 2, 1]], [[1003], [1003]],
      [[3, 5, 9], [1]], [[2, 3, 1, 5], [3, 4, 1]], [[1], [1]], [[4, 1, 6], [4, 5, 6]]];
    for (const [sa, sb] of shapes) {
      const x = randomArray(sa.reduce((p, d) => p * d, 1), 60 + sa.length), y = Float32Array.from(randomArray(sb.reduce((p, d) => p * d, 1), 61), (v) => v + 2);
      for (const [name, f] of Object.entries(fns)) {
        const got = (ops[name as keyof typeof fns])(tensor(x, sa, opts), tensor(y, sb, opts));
        const ref = refBroadcast(x, sa, y, sb, f);
        t.same(got.shape, ref.shape);
        const err = normError(got.data(), ref.out);
        if (!(err < 1e-6)) t.fail(`${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}: ${err}`);
      }
    }
    t.ok(sameSpecials(ops.div(tensor([1, -1, 0, NaN, Infinity], [5], opts), tensor([0], [1], opts)).data(), [Infinity, -Infinity, NaN, NaN, Infinity], 0),
      'division by zero and NaN as in IEEE');
    t.same(ops.add(zeros([2, 1], opts), zeros([1, 3], opts)).shape, [2, 3]);
    t.throws(() => ops.add(zeros([2, 3], opts), zeros([4], opts)), code('SHAPE'));
    t.throws(() => ops.add(zeros([2], opts), zeros([2], { ...opts, dtype: 'f16' })), code('DTYPE'));
    t.same(ops.add(zeros([0, 3], opts), zeros([3], opts)).shape, [0, 3]);
    for (const dtype of ['f16', 'bf16'] as const) {
      const x = rounded(randomArray(60, 46), dtype), y = rounded(randomArray(5, 47), dtype);
      const o16 = { ...opts, dtype };
      const got = ops.mul(tensor(x, [3, 4, 5], o16), tensor(y, [5], o16));
      t.equal(got.dtype, dtype);
      t.ok(normError(got.toFloat32(), refBroadcast(x, [3, 4, 5], y, [5], fns.mul).out) < (dtype === 'f16' ? 1e-3 : 8e-3), `mul ${dtype}`);
    }
  });
}

for (const device of testDevices('strided_copy', 'upsample2x', 'cast')) {
  const opts = { device: device as 'cpu' };
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
    // Every permutation of a 4-d tensor, in f32, f16 and bf16 (4- and 2-byte elements), against index math.
    const dims = [3, 5, 2, 7], strides = [70, 14, 7, 1];
    const v = Float32Array.from({ length: 210 }, (_, i) => i);
    const perms: number[][] = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2], [0, 2, 3, 1], [2, 0, 1, 3], [0, 3, 1, 2]];
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      const V = tensor(v, dims, { ...opts, dtype });
      for (const perm of perms) {
        const got = ops.permute(V, perm).toFloat32();
        const od = perm.map((d) => dims[d]!);
        let ok = true;
        for (let i = 0; i < 210 && ok; i++) {
          let rem = i, src = 0;
          for (let d = 3; d >= 0; d--) {
            src += (rem % od[d]!) * strides[perm[d]!]!;
            rem = Math.floor(rem / od[d]!);
          }
          ok = got[i] === src;  // integers below 256: exact in f16 and bf16
        }
        t.ok(ok, `permute ${perm} ${dtype}`);
      }
      // Odd slices and a three-way concat along inner and outer dims.
      const sl = ops.slice(V, 3, 1, 6).toFloat32();
      t.same(sl[0], 1);
      t.same(sl[5], 8);
      const cat = ops.concat([ops.slice(V, 3, 0, 2), ops.slice(V, 3, 2, 3), ops.slice(V, 3, 3, 7)], 3).toFloat32();
      t.same(Array.from(cat), Array.from(V.toFloat32()), `slice and concat along the last dim ${dtype}`);
    }
    const up = ops.upsampleNearest2x(tensor([1, 2, 3, 4], [1, 1, 2, 2], opts)).data();
    t.same(Array.from(up), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    const ux = randomArray(2 * 3 * 5 * 7, 70);
    const uy = ops.upsampleNearest2x(tensor(ux, [2, 3, 5, 7], opts)).data();
    let upOk = true;
    for (let pl = 0; pl < 6; pl++) for (let yy = 0; yy < 10; yy++) for (let xx = 0; xx < 14; xx++)
      upOk &&= uy[(pl * 10 + yy) * 14 + xx] === ux[(pl * 5 + (yy >> 1)) * 7 + (xx >> 1)];
    t.ok(upOk, 'upsample [2, 3, 5, 7]');
    const h = tensor([1, 2], [1, 2], { ...opts, dtype: 'f16' });
    t.same(Array.from(ops.concat([h, h], 1).toFloat32()), [1, 2, 1, 2], 'concat moves f16 too');
    t.same(Array.from(ops.upsampleNearest2x(tensor([1, 2], [1, 1, 1, 2], { ...opts, dtype: 'bf16' })).toFloat32()), [1, 1, 2, 2, 1, 1, 2, 2]);
    t.throws(() => ops.permute(X, [0, 1, 2]), code('ARG'));
    t.throws(() => ops.permute(X, [0, 1, 1, 2]), code('ARG'));
    t.throws(() => ops.slice(X, 1, 2, 5), code('ARG'));
    t.throws(() => ops.slice(X, 7, 0, 1), code('ARG'));
    t.throws(() => ops.concat([X, zeros([2, 3, 4, 6], opts)], 1), code('SHAPE'));
    t.throws(() => ops.concat([], 1), code('ARG'));
    t.throws(() => ops.split(X, [1, 1], 1), code('SHAPE'));
    t.throws(() => ops.upsampleNearest2x(zeros([3, 4], opts)), code('SHAPE'));
  });
}

for (const device of testDevices('timestep_embedding', 'cast')) {
  const opts = { device: device as 'cpu' };
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
}

for (const device of testDevices('reduce')) {
  const opts = { device: device as 'cpu' };
  t.test(`similarity reductions on ${device}`, async (t) => {
    const n = isSim(device) ? 10007 : 100003;
    const a = randomArray(n, 16), b = randomArray(n, 17);
    let l1 = 0, d = 0, nb = 0, dot = 0, na = 0, nb2 = 0;
    for (let i = 0; i < a.length; i++) {
      l1 += Math.abs(a[i]!); d += Math.abs(a[i]! - b[i]!); nb += Math.abs(b[i]!);
      dot += a[i]! * b[i]!; na += a[i]! ** 2; nb2 += b[i]! ** 2;
    }
    const A = tensor(a, [n], opts), B = tensor(b, [n], opts);
    t.ok(Math.abs(ops.l1Norm(A) - l1) / l1 < 1e-12, 'l1Norm');
    t.ok(Math.abs(ops.relativeL1(A, B) - d / nb) < 1e-12, 'relativeL1');
    t.ok(Math.abs(ops.cosineSimilarity(A, B) - dot / Math.sqrt(na * nb2)) < 1e-12, 'cosine');
    t.ok(Math.abs(ops.cosineSimilarity(A, A) - 1) < 1e-12);
    // Short and odd lengths (a scalar tail only, fewer values than threads), and the empty tensor.
    for (const m of [1, 3, 37]) {
      const sa = a.slice(0, m);
      t.ok(Math.abs(ops.l1Norm(tensor(sa, [m], opts)) - sa.reduce((s, v) => s + Math.abs(v), 0)) < 1e-12, `l1Norm of ${m}`);
    }
    t.equal(ops.l1Norm(zeros([0], opts)), 0);
    t.ok(Number.isNaN(ops.relativeL1(zeros([0], opts), zeros([0], opts))), '0/0 for empty tensors, as on the CPU');
    t.throws(() => ops.relativeL1(A, zeros([3], opts)), code('SHAPE'));
    t.throws(() => ops.l1Norm(zeros([3], { device: 'meta' })), code('DEVICE'));
    t.ok(Number.isNaN(ops.l1Norm(tensor([NaN, 1], [2], opts))));
    const h = tensor(a.slice(0, 301), [301], { ...opts, dtype: 'bf16' });
    const hr = rounded(a.slice(0, 301), 'bf16');
    t.ok(Math.abs(ops.l1Norm(h) - hr.reduce((s, v) => s + Math.abs(v), 0)) < 1e-9, 'l1Norm of bf16 values');
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
