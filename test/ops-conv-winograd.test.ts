// The CPU's Winograd F(2×2, 3×3) path (3×3, stride 1, ≥ 16 channels in and out) against the float64
// reference, on shapes that exercise its edges: odd output sizes (half tiles), padding 0 and 2, several
// images, input channels over one GEMM k step (384), output channels over several tasks with a short
// last one, and an image large enough to be split into several blocks of tile rows.
import t from 'tap';

import { ops, tensor } from '../dist/src/index.js';
import { normError, randomArray, refConv2d } from './helpers/reference';

const CASES: [number, number, number, number, number, number][] = [
  // [n, cin, h, w, cout, pad]; every case has at least 32 output tiles (below that the direct kernel runs)
  [2, 17, 9, 11, 19, 1],
  [1, 16, 13, 15, 16, 0],
  [1, 20, 10, 9, 23, 2],
  [2, 400, 7, 8, 20, 1],
  [1, 24, 12, 12, 250, 1],
  [3, 16, 7, 6, 18, 1],
  [1, 16, 76, 1022, 16, 1],  // 38 tile rows of 511 tiles: more than one block of tile rows
];

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
  const [c, h, w] = [16, 12, 12];
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
