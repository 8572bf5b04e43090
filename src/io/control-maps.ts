/**
 * Helpers that build the control images ControlNets are trained on, from what users have:
 *
 * - {@link segmentationColorMap}: a class-index mask → the segmentation colour map (ControlNet 1.1 seg and the
 *   toy model take ADE20K palette colours; {@link TOY_CONTROL_PALETTE} is the toy model's, ADE20K entries 0..5).
 * - {@link edgeMap}: an image → a white-on-black edge map, Canny-style (luma, 3×3 Gaussian blur, Sobel gradient,
 *   non-maximum suppression along the gradient, double threshold with hysteresis), for canny-type ControlNets.
 * - {@link rgbToTensor}: 8-bit RGB → the [1, 3, H, W] tensor in [0, 1] that `generate()` takes as a control.
 */
import { tensor } from '../creation.js';
import { HgcError, check } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { MaskImage, RgbImage } from './image.js';

/** An RGB colour, each channel 0..255. */
export type Rgb = readonly [number, number, number];

/** The toy ControlNet's control palette: class c → ADE20K palette entry c (c = 0..5). */
export const TOY_CONTROL_PALETTE: readonly Rgb[] = Object.freeze([
  [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80],
] as const);

function checkRgbImage(image: RgbImage, what: string): void {
  check(image !== null && typeof image === 'object' && image.data instanceof Uint8Array, 'ARG', () => `${what}: expected an RgbImage { data, width, height }`);
  const { width, height, data } = image;
  check(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && data.length === 3 * width * height, 'SHAPE',
    () => `${what}: expected ${width}×${height}×3 = ${3 * width * height} bytes, got ${data.length}`);
}

/** Colours each pixel of a class-index mask with `palette[class]`; a class outside the palette is an ARG error. */
export function segmentationColorMap(mask: MaskImage, palette: readonly Rgb[] = TOY_CONTROL_PALETTE): RgbImage {
  check(mask !== null && typeof mask === 'object' && mask.data instanceof Uint8Array, 'ARG', 'segmentationColorMap: expected a MaskImage { data, width, height }');
  const { width, height, data } = mask;
  check(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && data.length === width * height, 'SHAPE',
    () => `segmentationColorMap: expected ${width}×${height} = ${width * height} class indices, got ${data.length}`);
  check(Array.isArray(palette) && palette.length > 0 && palette.every((c) => Array.isArray(c) && c.length === 3 &&
    c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)), 'ARG', 'segmentationColorMap: palette must be a list of [r, g, b] with integers 0..255');
  const out = new Uint8Array(3 * data.length);
  for (let i = 0; i < data.length; i++) {
    const c = palette[data[i]!];
    if (c === undefined) {
      throw new HgcError('ARG', `segmentationColorMap: pixel (${i % width}, ${Math.floor(i / width)}) has class ${data[i]}, ` +
        `the palette has ${palette.length} colours (0..${palette.length - 1})`);
    }
    out[3 * i] = c[0];
    out[3 * i + 1] = c[1];
    out[3 * i + 2] = c[2];
  }
  return { data: out, width, height };
}

/** Options of {@link edgeMap}. */
export interface EdgeMapOptions {
  /** Gradient magnitude (Sobel, L2, on 0..255 luma) below which nothing is an edge (default 100, as ControlNet's canny annotator). */
  low?: number;
  /** Magnitude from which a pixel is a sure edge; weaker pixels are kept only when connected to one (default 200). */
  high?: number;
  /** Smooth with a 3×3 Gaussian before the gradient (default true). */
  blur?: boolean;
}

/** Luma (BT.601) of each pixel, as float. */
function luma(image: RgbImage): Float32Array {
  const n = image.width * image.height, d = image.data;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.299 * d[3 * i]! + 0.587 * d[3 * i + 1]! + 0.114 * d[3 * i + 2]!;
  return out;
}

/** 3×3 convolution with replicated borders. */
function conv3(src: Float32Array, w: number, h: number, k: readonly number[]): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = Math.min(Math.max(y + dy, 0), h - 1);
        for (let dx = -1; dx <= 1; dx++) {
          const xx = Math.min(Math.max(x + dx, 0), w - 1);
          s += k[(dy + 1) * 3 + dx + 1]! * src[yy * w + xx]!;
        }
      }
      out[y * w + x] = s;
    }
  }
  return out;
}

const GAUSS = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16);
const SOBEL_X = [-1, 0, 1, -2, 0, 2, -1, 0, 1];
const SOBEL_Y = [-1, -2, -1, 0, 0, 0, 1, 2, 1];

/** Sobel gradient magnitude (L2) of an image's luma, after the optional blur; exposed for tests and custom thresholds. */
export function sobelMagnitude(image: RgbImage, blur = true): {
  /** √(gx² + gy²) per pixel, row-major. */
  magnitude: Float32Array;
  /** Horizontal Sobel response (right minus left). */
  gx: Float32Array;
  /** Vertical Sobel response (down minus up). */
  gy: Float32Array;
} {
  checkRgbImage(image, 'sobelMagnitude');
  const { width: w, height: h } = image;
  const g = blur ? conv3(luma(image), w, h, GAUSS) : luma(image);
  const gx = conv3(g, w, h, SOBEL_X), gy = conv3(g, w, h, SOBEL_Y);
  const magnitude = new Float32Array(w * h);
  for (let i = 0; i < magnitude.length; i++) magnitude[i] = Math.hypot(gx[i]!, gy[i]!);
  return { magnitude, gx, gy };
}

/**
 * A Canny-style edge map of an image: white (255) edge pixels, one pixel wide, on black, as RGB (the three
 * channels equal), the same size as the input.
 */
export function edgeMap(image: RgbImage, opts: EdgeMapOptions = {}): RgbImage {
  const low = opts.low ?? 100, high = opts.high ?? 200;
  check(Number.isFinite(low) && Number.isFinite(high) && low >= 0 && high >= low, 'ARG',
    () => `edgeMap: thresholds must satisfy 0 ≤ low ≤ high, got low ${low}, high ${high}`);
  const { magnitude: m, gx, gy } = sobelMagnitude(image, opts.blur ?? true);
  const { width: w, height: h } = image;
  // Non-maximum suppression: keep a pixel only if it is not smaller than both neighbours along the gradient
  // (direction quantised to 0°, 45°, 90°, 135°); ties keep the first pixel so flat ridges stay one pixel wide.
  const strength = new Uint8Array(w * h);  // 0 none, 1 weak, 2 strong
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= w || y >= h ? 0 : m[y * w + x]!);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x, v = m[i]!;
      if (v < low || v === 0) continue;
      const angle = ((Math.atan2(gy[i]!, gx[i]!) * 180) / Math.PI + 180) % 180;
      const [dx, dy] = angle < 22.5 || angle >= 157.5 ? [1, 0] : angle < 67.5 ? [1, 1] : angle < 112.5 ? [0, 1] : [-1, 1];
      if (v > at(x - dx, y - dy) && v >= at(x + dx, y + dy)) strength[i] = v >= high ? 2 : 1;
    }
  }
  // Hysteresis: weak pixels 8-connected (through other weak pixels) to a strong one become edges.
  const edge = new Uint8Array(w * h);
  const stack: number[] = [];
  for (let i = 0; i < strength.length; i++) {
    if (strength[i] === 2 && !edge[i]) {
      edge[i] = 1;
      stack.push(i);
      while (stack.length > 0) {
        const j = stack.pop()!, x = j % w, y = (j - x) / w;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx, yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
            const k = yy * w + xx;
            if (strength[k]! > 0 && !edge[k]) {
              edge[k] = 1;
              stack.push(k);
            }
          }
        }
      }
    }
  }
  const out = new Uint8Array(3 * w * h);
  for (let i = 0; i < edge.length; i++) if (edge[i]) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = 255;
  return { data: out, width: w, height: h };
}

/** 8-bit RGB → a [1, 3, H, W] f32 tensor in [0, 1] (value / 255), e.g. to pass a built control map to generate(). */
export function rgbToTensor(image: RgbImage): Tensor {
  checkRgbImage(image, 'rgbToTensor');
  const { width, height, data } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    out[p] = data[3 * p]! / 255;
    out[plane + p] = data[3 * p + 1]! / 255;
    out[2 * plane + p] = data[3 * p + 2]! / 255;
  }
  return tensor(out, [1, 3, height, width]);
}
