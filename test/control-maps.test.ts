// Control-map helpers: segmentation colour maps from class masks (exactly the toy model's control images), and
// Canny-style edge maps (Sobel against a float64 reference, one-pixel-wide edges, hysteresis).
import t from 'tap';

import { TOY_CONTROL_PALETTE, edgeMap, readMaskPng, readPng, rgbToTensor, segmentationColorMap, sobelMagnitude, toUint8 } from '../dist/src/index.js';
import { toyPath } from './helpers/toy';

t.test('segmentation colour map reproduces the eval set control images', async (t) => {
  for (const c of ['case_000', 'case_017', 'case_063']) {
    const mask = readMaskPng(toyPath('eval', `${c}_mask.png`));
    const map = segmentationColorMap(mask);
    const control = readPng(toyPath('eval', `${c}_control.png`));
    t.same(Buffer.from(map.data), Buffer.from(toUint8(control).data), `${c}: byte-identical`);
    const back = rgbToTensor(map);
    t.same(back.shape, [1, 3, 128, 128]);
    t.same(back.toFloat32(), control.toFloat32(), 'rgbToTensor gives the tensor readPng gives');
    back.dispose();
    control.dispose();
  }
  const custom = segmentationColorMap({ data: new Uint8Array([0, 1, 1, 0]), width: 2, height: 2 }, [[1, 2, 3], [250, 251, 252]]);
  t.same([...custom.data], [1, 2, 3, 250, 251, 252, 250, 251, 252, 1, 2, 3]);
  t.equal(TOY_CONTROL_PALETTE.length, 6);
  t.throws(() => segmentationColorMap({ data: new Uint8Array([0, 6]), width: 2, height: 1 }), { name: 'HgcError', code: 'ARG', message: /pixel \(1, 0\) has class 6/ });
  t.throws(() => segmentationColorMap({ data: new Uint8Array(3), width: 2, height: 2 }), { name: 'HgcError', code: 'SHAPE' });
  t.throws(() => segmentationColorMap({ data: new Uint8Array(1), width: 1, height: 1 }, [[300, 0, 0]]), { name: 'HgcError', code: 'ARG' });
  t.throws(() => segmentationColorMap(null as never), { name: 'HgcError', code: 'ARG' });
});

/** An RGB image from a function of (x, y) giving a grey level. */
function grey(w: number, h: number, f: (x: number, y: number) => number) {
  const data = new Uint8Array(3 * w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.fill(f(x, y), 3 * (y * w + x), 3 * (y * w + x) + 3);
  return { data, width: w, height: h };
}

const edgePixels = (e: { data: Uint8Array; width: number }) => {
  const out: [number, number][] = [];
  for (let i = 0; i < e.data.length / 3; i++) if (e.data[3 * i]) out.push([i % e.width, Math.floor(i / e.width)]);
  return out;
};

t.test('Sobel magnitude against a float64 reference (random image, odd size, replicated borders)', async (t) => {
  let s = 7;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 255;
  const w = 13, h = 7;
  const img = { data: Uint8Array.from({ length: 3 * w * h }, () => Math.floor(rand())), width: w, height: h };
  const lum = (x: number, y: number) => {
    const cx = Math.min(Math.max(x, 0), w - 1), cy = Math.min(Math.max(y, 0), h - 1), i = 3 * (cy * w + cx);
    return 0.299 * img.data[i]! + 0.587 * img.data[i + 1]! + 0.114 * img.data[i + 2]!;
  };
  const { magnitude } = sobelMagnitude(img, false);
  let worst = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const gx = lum(x + 1, y - 1) + 2 * lum(x + 1, y) + lum(x + 1, y + 1) - lum(x - 1, y - 1) - 2 * lum(x - 1, y) - lum(x - 1, y + 1);
      const gy = lum(x - 1, y + 1) + 2 * lum(x, y + 1) + lum(x + 1, y + 1) - lum(x - 1, y - 1) - 2 * lum(x, y - 1) - lum(x + 1, y - 1);
      worst = Math.max(worst, Math.abs(magnitude[y * w + x]! - Math.hypot(gx, gy)) / (1 + Math.hypot(gx, gy)));
    }
  }
  t.ok(worst < 1e-5, `relative error ${worst.toExponential(2)}`);
});

t.test('edge map: one-pixel-wide edges where the image steps, nothing on flat images, hysteresis', async (t) => {
  const flat = edgeMap(grey(16, 9, () => 128));
  t.equal(edgePixels(flat).length, 0, 'flat image: no edges');
  const step = edgeMap(grey(20, 10, (x) => (x < 10 ? 0 : 255)));
  const px = edgePixels(step);
  t.equal(px.length, 10, 'one edge pixel per row');
  t.ok(px.every(([x]) => x === 9 || x === 10), `at the step: ${JSON.stringify(px.slice(0, 3))}`);
  t.same([...new Set(step.data)].sort(), [0, 255], 'white on black');
  // A square: edges on its outline only.
  const sq = edgePixels(edgeMap(grey(32, 32, (x, y) => (x >= 8 && x < 24 && y >= 8 && y < 24 ? 220 : 20))));
  t.ok(sq.length >= 50 && sq.every(([x, y]) => (x >= 6 && x <= 25 && y >= 6 && y <= 25) && !(x > 10 && x < 21 && y > 10 && y < 21)), `${sq.length} outline pixels`);
  // Hysteresis: a vertical step whose contrast grows down the rows (magnitude ≈ 29·(y + 1) after the blur).
  const ramp = grey(20, 10, (x, y) => (x < 10 ? 100 : 100 + 10 * (y + 1)));
  const rows = (e: [number, number][]) => [...new Set(e.map(([, y]) => y))].sort((a, b) => a - b);
  t.same(rows(edgePixels(edgeMap(ramp, { low: 50, high: 400 }))), [], 'no strong pixel: the weak ones are dropped');
  t.same(rows(edgePixels(edgeMap(ramp, { low: 50, high: 250 }))), [2, 3, 4, 5, 6, 7, 8, 9],
    'strong rows 8-9 keep the weak rows 2-7 connected to them (rows 0-1 are below low or suppressed)');
  const weak = grey(20, 10, (x) => (x < 10 ? 100 : 140));
  t.throws(() => edgeMap(weak, { low: 10, high: 5 }), { name: 'HgcError', code: 'ARG' });
  t.throws(() => edgeMap({ data: new Uint8Array(5), width: 2, height: 2 }), { name: 'HgcError', code: 'SHAPE' });
  t.throws(() => rgbToTensor({} as never), { name: 'HgcError', code: 'ARG' });
  // On a real control image with thresholds for its low-contrast palette, the edges outline the shapes.
  const control = toUint8(readPng(toyPath('eval', 'case_000_control.png')));
  const e = edgePixels(edgeMap(control, { low: 10, high: 30 }));
  const mask = readMaskPng(toyPath('eval', 'case_000_mask.png'));
  const onBoundary = e.filter(([x, y]) => {
    const c = mask.data[y * 128 + x]!;
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
      const xx = x + dx, yy = y + dy;
      if (xx >= 0 && yy >= 0 && xx < 128 && yy < 128 && mask.data[yy * 128 + xx] !== c) return true;
    }
    return false;
  });
  t.ok(e.length > 200 && onBoundary.length === e.length, `${e.length} edge pixels, all within 2 px of a class boundary`);
});
