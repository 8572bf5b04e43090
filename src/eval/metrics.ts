/**
 * The toy ControlNet evaluation protocol (../shared/fixtures/toy-controlnet/README.md): segment a generated
 * image by nearest palette colour, score dataset-level mIoU against the control mask, and measure fidelity to
 * an uncached reference (PSNR on uint8, agreement of the segmentations).
 */

/** The toy dataset's image palette (class → RGB). */
export const TOY_IMAGE_PALETTE: readonly (readonly [number, number, number])[] = [
  [220, 40, 40], [40, 170, 60], [40, 70, 220], [235, 205, 40], [150, 50, 190], [235, 235, 235],
];

/** Class per pixel of an interleaved RGB uint8 image: nearest palette colour (squared distance; ties → lower class). */
export function segmentByPalette(rgb: Uint8Array, palette = TOY_IMAGE_PALETTE): Uint8Array {
  const n = rgb.length / 3;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, bestD = Infinity;
    for (let c = 0; c < palette.length; c++) {
      const p = palette[c]!;
      const d = (rgb[3 * i]! - p[0]) ** 2 + (rgb[3 * i + 1]! - p[1]) ** 2 + (rgb[3 * i + 2]! - p[2]) ** 2;
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Accumulates intersections and unions over many images: dataset-level mIoU (as mmseg computes it). */
export class MiouAccumulator {
  readonly #inter: number[];
  readonly #union: number[];
  #pixels = 0;
  #correct = 0;
  /** @param classes - Number of classes; masks hold class indices 0 … classes − 1 (default 6, the toy model's). */
  constructor(readonly classes = 6) {
    this.#inter = new Array<number>(classes).fill(0);
    this.#union = new Array<number>(classes).fill(0);
  }
  /** Adds one image: `pred` and `truth` are class-index masks of the same length (one byte per pixel). */
  add(pred: Uint8Array, truth: Uint8Array): void {
    for (let i = 0; i < pred.length; i++) {
      const p = pred[i]!, g = truth[i]!;
      if (p === g) {
        this.#inter[p]!++;
        this.#union[p]!++;
        this.#correct++;
      } else {
        this.#union[p]!++;
        this.#union[g]!++;
      }
    }
    this.#pixels += pred.length;
  }
  /** Mean over classes with a non-empty union of I_c / U_c. */
  miou(): number {
    let s = 0, n = 0;
    for (let c = 0; c < this.classes; c++) {
      if (this.#union[c]! > 0) {
        s += this.#inter[c]! / this.#union[c]!;
        n++;
      }
    }
    return n ? s / n : NaN;
  }
  /** Share of all pixels added so far whose predicted class is right (NaN before any pixel). */
  pixelAccuracy(): number {
    return this.#correct / this.#pixels;
  }
}

/** PSNR in dB of two uint8 images (Infinity when identical). */
export function psnrUint8(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** Share of pixels with the same class. */
export function agreement(a: Uint8Array, b: Uint8Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}
