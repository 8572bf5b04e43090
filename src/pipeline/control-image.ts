/** Control-image preprocessing: RGB in [0, 1], NCHW, resized (bilinear, half-pixel centres) to a target size. */
import { tensor } from '../creation.js';
import { check, shapeStr } from '../errors.js';
import { readPng } from '../io/image.js';
import { Tensor } from '../tensor.js';

/** Bilinear resize of planar float data [planes, h, w] → [planes, oh, ow] (align_corners = false). */
export function resizeBilinear(data: Float32Array, planes: number, h: number, w: number, oh: number, ow: number): Float32Array {
  const out = new Float32Array(planes * oh * ow);
  const sy = h / oh, sx = w / ow;
  for (let y = 0; y < oh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, h - 1), wy = fy - y0;
    for (let x = 0; x < ow; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, w - 1), wx = fx - x0;
      for (let p = 0; p < planes; p++) {
        const b = p * h * w;
        const top = data[b + y0 * w + x0]! * (1 - wx) + data[b + y0 * w + x1]! * wx;
        const bot = data[b + y1 * w + x0]! * (1 - wx) + data[b + y1 * w + x1]! * wx;
        out[p * oh * ow + y * ow + x] = top * (1 - wy) + bot * wy;
      }
    }
  }
  return out;
}

/**
 * The control image as [1, 3, height, width] f32: a tensor [1, 3, H, W] or [3, H, W] in [0, 1], or the path of
 * a PNG file, resized (bilinear) when its size differs. Values outside [0, 1] or NaN are rejected (HgcError ARG).
 */
export function prepareControl(control: Tensor | string, height: number, width: number): Tensor {
  if (typeof control === 'string') {
    const img = readPng(control);
    try {
      return prepareControl(img, height, width);
    } finally {
      img.dispose();
    }
  }
  check(control.rank === 4 || control.rank === 3, 'SHAPE', () => `control image must be [1, 3, H, W] or [3, H, W], got ${shapeStr(control.shape)}`);
  const c = control.shape[control.rank - 3]!, h = control.shape[control.rank - 2]!, w = control.shape[control.rank - 1]!;
  check(c === 3 && (control.rank === 3 || control.shape[0] === 1), 'SHAPE', () => `control image must have 3 channels and batch 1, got ${shapeStr(control.shape)}`);
  if (control.device === 'meta') return Tensor.meta([1, 3, height, width], 'f32');
  const data = control.toFloat32();
  const bad = data.findIndex((v) => !(v >= 0 && v <= 1));
  check(bad < 0, 'ARG', () => `control image values must be in [0, 1], found ${data[bad]} at index ${bad}`);
  const resized = h === height && w === width ? data : resizeBilinear(data, 3, h, w, height, width);
  return tensor(resized, [1, 3, height, width], { device: control.device });
}
