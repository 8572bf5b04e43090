// The CPU's Winograd F(2×2, 3×3) path (3×3, stride 1, cin·cout ≥ 24·(cin + cout), ≥ 32 output tiles) against
// the float64 reference, on shapes that exercise its edges: odd output sizes (half tiles), padding 0 and 2,
// several images, input channels over one GEMM k step (384), output channels over several tasks with a short
// last one, and an image large enough to be split into several blocks of tile rows.
import t from 'tap';

import { ops, tensor } from '../dist/src/index.js';
import { normError, randomArray, refConv2d } from './helpers/reference';

const CASES: [number, number, number, number, number, number][] = [
  // [n, cin, h, w, cout, pad]
  [2, 48, 9, 11, 50, 1],
  [1, 64, 13, 15, 48, 0],
  [1, 50, 10, 9, 60, 2],
  [2, 400, 7, 8, 30, 1],
  [1, 48, 12, 12, 250, 1],
  [3, 50, 7, 6, 52, 1],
];

/** Float64 reference of output rows `rows` only (all images, channels and columns), with bias. */
function refRows(x: Float32Array, w: Float32Array, b: Float32Array, [n, cin, h, wd]: number[], cout: number,
  rows: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (let img = 0; img < n!; img++) for (let co = 0; co < cout; co++) for (const oy of rows) for (let ox = 0; ox < wd!; ox++) {
    let sum = b[co]!;
    for (let ci = 0; ci < cin!; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
      const iy = oy + ky - 1, ix = ox + kx - 1;
      if (iy >= 0 && iy < h! && ix >= 0 && ix < wd!) sum += x[((img * cin! + ci) * h! + iy) * wd! + ix]! * w[((co * cin! + ci) * 3 + ky) * 3 + kx]!;
    }
    out.set(`${img},${co},${oy},${ox}`, sum);
  }
  return out;
}

t.test('Winograd 3×3 convolution on cpu against float64', async (t) => {
  let seed = 5000;
  for (const [n, cin, h, w, cout, pad] of CASES) {
    const x = randomArray(n * cin * h * w, seed++), wt = randomArray(cout * cin * 9, seed++), b = randomArray(cout, seed++);
    const ref = refConv2d(x, wt, [n, cin, h, w], [cout, cin, 3, 3], 1, pad, b);
    const res = randomArray(ref.out.length, seed++);
    const refRes = refConv2d(x, wt, [n, cin, h, w], [cout, cin, 3, 3], 1, pad, b, res);
    const refNoBias = refConv2d(x, wt, [n, cin, h, w], [cout, cin, 3, 3], 1, pad);
    const X = tensor(x, [n, cin, h, w]), W = tensor(wt, [cout, cin, 3, 3]), B = tensor(b, [cout]);
    const y = ops.conv2d(X, W, { padding: pad, bias: B });
    const yRes = ops.conv2d(X, W, { padding: pad, bias: B, residual: tensor(res, ref.shape) });
    const yPlain = ops.conv2d(X, W, { padding: pad });
    t.same(y.shape, ref.shape);
    const label = [n, cin, h, w, cout, pad].join(',');
    const errs = [normError(y.data() as Float32Array, ref.out), normError(yRes.data() as Float32Array, refRes.out),
      normError(yPlain.data() as Float32Array, refNoBias.out)];
    t.ok(errs.every((e) => e < 2e-6), `${label}: errors ${errs.map((e) => e.toExponential(2)).join(', ')}`);
  }
});

/** Which outputs of channel 0 are NaN / ±Inf for a single non-finite input at (5, 6) of channel 3. */
function nonFinite(value: number): { nan: Set<string>; inf: Set<string> } {
  const [c, h, w] = [48, 12, 12];
  const x = randomArray(c * h * w, 77);
  x[3 * h * w + 5 * w + 6] = value;
  const y = ops.conv2d(tensor(x, [1, c, h, w]), tensor(randomArray(c * c * 9, 78), [c, c, 3, 3]), { padding: 1 }).data();
  const nan = new Set<string>(), inf = new Set<string>();
  for (let oy = 0; oy < h; oy++) {
    for (let ox = 0; ox < w; ox++) {
      const v = y[oy * w + ox]!;
      if (Number.isNaN(v)) nan.add(`${oy},${ox}`);
      else if (!Number.isFinite(v)) inf.add(`${oy},${ox}`);
    }
  }
  return { nan, inf };
}

const window = new Set<string>();
for (let oy = 4; oy <= 6; oy++) for (let ox = 5; ox <= 7; ox++) window.add(`${oy},${ox}`);

t.test('Winograd path: an image split into several blocks of tile rows', async (t) => {
  // 48 → 48 channels, 260 × 128: 130 tile rows of 64 tiles. V and the threads' products for one block are
  // capped at 48 MB = 128 such rows (4·16·64·(48 + 48) bytes each, whatever the thread count), so the tile rows
  // are cut into blocks of 128 and 2. The output rows on both sides of the cut (output row 256) and the first
  // rows are checked against float64.
  const [n, cin, h, w, cout] = [1, 48, 260, 128, 48];
  const x = randomArray(n * cin * h * w, 901), wt = randomArray(cout * cin * 9, 902), b = randomArray(cout, 903);
  const y = ops.conv2d(tensor(x, [n, cin, h, w]), tensor(wt, [cout, cin, 3, 3]), { padding: 1, bias: tensor(b, [cout]) }).data();
  const rows = [0, 1, 2, 253, 254, 255, 256, 257, 258, 259];
  const ref = refRows(x, wt, b, [n, cin, h, w], cout, rows);
  let worst = 0, scale = 0;
  for (const [key, want] of ref) {
    const [img, co, oy, ox] = key.split(',').map(Number) as [number, number, number, number];
    worst = Math.max(worst, Math.abs(y[((img * cout + co) * h + oy) * w + ox]! - want));
    scale = Math.max(scale, Math.abs(want));
  }
  t.ok(worst / scale < 2e-6, `error ${(worst / scale).toExponential(2)} on ${ref.size} outputs`);
});

t.test('Winograd path: non-finite inputs stay in their exact 3×3 window', async (t) => {
  const nan = nonFinite(NaN);
  t.same([...nan.nan].sort(), [...window].sort(), 'a NaN reaches exactly the outputs whose window covers it');
  t.equal(nan.inf.size, 0);
  const inf = nonFinite(Infinity);
  t.same([...inf.nan, ...inf.inf].sort(), [...window].sort(), 'an infinity stays in its window');
  // Documented difference from direct convolution (which gives ±Inf in all 9): ∞ − ∞ inside the transforms
  // makes some of them NaN. This also shows that the Winograd path ran.
  t.ok(inf.nan.size > 0, `${inf.nan.size} of the 9 window outputs are NaN`);
});
