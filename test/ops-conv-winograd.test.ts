// The CPU's Winograd F(2×2, 3×3) path (3×3, stride 1, ≥ 16 channels in and out) against the float64
// reference, on shapes that exercise its edges: odd output sizes (half tiles), padding 0 and 2, several
// images, input channels over one GEMM k step (384), output channels over several tasks with a short
// last one, and an image large enough to be split into several blocks of tile rows.
import t from 'tap';

import { ops, tensor } from '../dist/src/index.js';
import { normError, randomArray, refConv2d } from './helpers/reference';

const CASES: [number, number, number, number, number, number][] = [
  // [n, cin, h, w, cout, pad]
  [2, 17, 9, 11, 19, 1],
  [1, 16, 5, 7, 16, 0],
  [1, 20, 6, 5, 23, 2],
  [1, 400, 6, 7, 20, 1],
  [1, 24, 4, 4, 250, 1],
  [3, 16, 3, 2, 18, 1],
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

t.test('Winograd path: a NaN input reaches at least its exact window and stays local', async (t) => {
  const [c, h, w] = [16, 12, 12];
  const x = randomArray(c * h * w, 77);
  x[3 * h * w + 5 * w + 6] = NaN;  // channel 3, row 5, column 6
  const y = ops.conv2d(tensor(x, [1, c, h, w]), tensor(randomArray(c * c * 9, 78), [c, c, 3, 3]), { padding: 1 }).data();
  for (let co = 0; co < c; co++) {
    for (let oy = 0; oy < h; oy++) {
      for (let ox = 0; ox < w; ox++) {
        const v = y[(co * h + oy) * w + ox]!;
        const dy = Math.abs(oy - 5), dx = Math.abs(ox - 6);
        // Exact window: outputs within 1 pixel see the NaN. Tiles are 2×2, so the spread is at most 2 pixels.
        if (dy <= 1 && dx <= 1 && !Number.isNaN(v)) t.fail(`output ${co},${oy},${ox} lost the NaN`);
        if ((dy > 2 || dx > 2) && !Number.isFinite(v)) t.fail(`output ${co},${oy},${ox} is ${v}, far from the NaN`);
      }
    }
  }
  t.pass('checked every output');
});
