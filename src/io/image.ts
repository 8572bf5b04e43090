/**
 * PNG images ↔ tensors.
 *
 * - {@link readPng}: any PNG (greyscale, RGB, palette, with or without alpha; 1, 2, 4, 8 or 16 bits) → an RGB
 *   tensor [1, 3, H, W] f32 in [0, 1]: sample / (2^depth − 1) (palette colours / 255). Alpha is dropped, grey is
 *   replicated to the three channels, and no gamma correction is applied.
 * - {@link toUint8} / {@link writePng}: an image tensor in [0, 1] → 8-bit RGB, as numpy/diffusers do it:
 *   clamp to [0, 1], multiply by 255 in float32, round half to even (NaN becomes 0).
 * - {@link readMaskPng}: a greyscale PNG of class indices → one byte per pixel.
 *
 * Every problem with a file (missing, not a PNG, corrupt) is an `HgcError('IO')` naming it; a tensor of the wrong
 * shape is an `HgcError('SHAPE')`.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

import { PNG } from 'pngjs';

import { tensor } from '../creation.js';
import { HgcError, check, shapeStr } from '../errors.js';
import { type Device, Tensor } from '../tensor.js';

/** 8-bit RGB pixels, row-major, interleaved (R, G, B for each pixel). */
export interface RgbImage {
  /** width × height × 3 bytes. */
  data: Uint8Array;
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
}

/** One byte per pixel (e.g. a class index), row-major. */
export interface MaskImage {
  /** width·height bytes, row by row from the top. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Options of {@link readPng}. */
export interface ReadPngOptions {
  /** Device of the tensor (default 'cpu'). */
  device?: Device;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** What pngjs gives back from a synchronous read (RGBA per pixel; Uint16Array for 16-bit with skipRescale). */
interface Decoded {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  palette: boolean;
  color: boolean;
  transColor?: number[];
  data: Uint8Array | Uint16Array;
}

/** Reads and decodes `path` with samples at their stored depth (no rescaling), or throws IO naming the file. */
function decode(path: string, what: string): Decoded {
  check(typeof path === 'string' && path.length > 0, 'ARG', () => `${what}: path must be a non-empty string`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw new HgcError('IO', `${what} ${path}: cannot read: ${(e as Error).message}`);
  }
  if (bytes.length < SIGNATURE.length || !bytes.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw new HgcError('IO', `${what} ${path}: not a PNG file (the PNG signature is missing)`);
  }
  checkImageData(bytes, `${what} ${path}`);
  let png: Decoded;
  try {
    png = PNG.sync.read(bytes, { skipRescale: true }) as unknown as Decoded;
  } catch (e) {
    throw new HgcError('IO', `${what} ${path}: corrupt PNG: ${(e as Error).message}`);
  }
  const { width, height, data } = png;
  /* c8 ignore next 3 */
  if (!(width > 0 && height > 0) || !data || data.length !== width * height * 4) {
    throw new HgcError('IO', `${what} ${path}: corrupt PNG: decoded ${data?.length ?? 0} samples for ${width}×${height} pixels`);
  }
  return png;
}

const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: x0, y0, dx, dy. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/**
 * Checks what pngjs lets through: the chunks must fit in the file, and the image data (all IDAT chunks,
 * inflated) must hold every row the header promises (pngjs fills missing rows with zeros). Other problems (bad
 * header values, CRCs, filters) are left to pngjs. Throws IO prefixed with `where`.
 */
function checkImageData(bytes: Buffer, where: string): void {
  const fail = (msg: string): never => {
    throw new HgcError('IO', `${where}: corrupt PNG: ${msg}`);
  };
  let pos = 8;
  let ihdr: Buffer | null = null;
  const idat: Buffer[] = [];
  for (;;) {
    if (pos + 8 > bytes.length) fail(`the file ends inside a chunk header at byte ${pos} (truncated?)`);
    const len = bytes.readUInt32BE(pos);
    const type = bytes.toString('latin1', pos + 4, pos + 8);
    if (pos + 12 + len > bytes.length) fail(`chunk ${JSON.stringify(type)} at byte ${pos} runs past the end of the file (truncated?)`);
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (ihdr === null) {
      if (type !== 'IHDR' || len !== 13) fail('the first chunk is not a 13-byte IHDR');
      ihdr = data;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  const width = ihdr!.readUInt32BE(0), height = ihdr!.readUInt32BE(4), depth = ihdr![8]!, channels = CHANNELS[ihdr![9]!];
  if (channels === undefined || width === 0 || height === 0) return;  // pngjs names these
  const rowBytes = (w: number) => 1 + Math.ceil((w * channels * depth) / 8);
  let expected = 0;
  if (ihdr![12] === 1) {
    for (const [x0, y0, dx, dy] of ADAM7) {
      const pw = Math.ceil((width - x0) / dx), ph = Math.ceil((height - y0) / dy);
      if (pw > 0 && ph > 0) expected += ph * rowBytes(pw);
    }
  } else {
    expected = height * rowBytes(width);
  }
  if (idat.length === 0) fail('no image data (IDAT)');
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(Buffer.concat(idat), { maxOutputLength: Math.max(expected, 1) + 1024 });
  } catch (e) {
    return fail(`image data does not inflate: ${(e as Error).message}`);
  }
  if (raw.length < expected) fail(`image data holds ${raw.length} bytes, ${width}×${height} pixels need ${expected}`);
}

/**
 * pngjs blanks (RGBA = 0) the pixels that match a tRNS key colour; alpha is otherwise opaque for images without
 * an alpha channel, so alpha 0 marks exactly those pixels. Puts their colour back.
 */
function restoreKeyColour(png: Decoded): void {
  const key = png.transColor;
  if (png.palette || key === undefined) return;
  const [r, g, b] = key.length === 1 ? [key[0]!, key[0]!, key[0]!] : [key[0]!, key[1]!, key[2]!];
  const d = png.data;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) {
      d[i] = r;
      d[i + 1] = g;
      d[i + 2] = b;
    }
  }
}

/** Reads a PNG as an RGB tensor [1, 3, H, W] f32 in [0, 1] (see the module description). */
export function readPng(path: string, opts: ReadPngOptions = {}): Tensor {
  const png = decode(path, 'readPng');
  restoreKeyColour(png);
  const { width, height, data } = png;
  const max = png.palette ? 255 : 2 ** png.depth - 1;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    out[p] = data[4 * p]! / max;
    out[plane + p] = data[4 * p + 1]! / max;
    out[2 * plane + p] = data[4 * p + 2]! / max;
  }
  return tensor(out, [1, 3, height, width], { device: opts.device ?? 'cpu' });
}

/**
 * Reads a greyscale PNG (1, 2, 4 or 8 bits, alpha ignored) whose sample values are class indices: one byte per
 * pixel. Colour, palette and 16-bit PNGs are refused with HgcError('IO').
 */
export function readMaskPng(path: string): MaskImage {
  const png = decode(path, 'readMaskPng');
  if (png.palette || png.color || png.depth > 8) {
    const kind = png.palette ? 'a palette' : png.color ? 'a colour' : `a ${png.depth}-bit greyscale`;
    throw new HgcError('IO', `readMaskPng ${path}: a mask must be an 8-bit (or lower) greyscale PNG, this is ${kind} PNG ` +
      `(colour type ${png.colorType}, depth ${png.depth})`);
  }
  restoreKeyColour(png);
  const { width, height, data } = png;
  const out = new Uint8Array(width * height);
  for (let p = 0; p < out.length; p++) out[p] = data[4 * p]!;
  return { data: out, width, height };
}

/** One value in [0, 1] → uint8 as numpy does it: clamp, ×255 in float32, round half to even; NaN → 0. */
function toByte(x: number): number {
  if (!(x > 0)) return 0;  // also NaN
  if (x >= 1) return 255;
  const v = Math.fround(x * 255);
  let r = Math.round(v);
  if (r - v === 0.5 && (r & 1) === 1) r -= 1;
  return r;
}

/** The height and width of an image tensor [1, 3, H, W] or [3, H, W]; SHAPE error otherwise. */
function imageDims(t: Tensor, what: string): [number, number] {
  check(t instanceof Tensor || (t !== null && typeof t === 'object' && (t as { isTensor?: unknown }).isTensor === true), 'ARG',
    () => `${what}: expected a Tensor`);
  const s = t.shape;
  const ok = (s.length === 4 && s[0] === 1 && s[1] === 3) || (s.length === 3 && s[0] === 3);
  check(ok && s[s.length - 1]! > 0 && s[s.length - 2]! > 0, 'SHAPE',
    () => `${what}: expected one RGB image [1, 3, H, W] or [3, H, W] with H, W > 0, got ${shapeStr(s)}`);
  return [s[s.length - 2]!, s[s.length - 1]!];
}

/**
 * An image tensor [1, 3, H, W] or [3, H, W] in [0, 1] (any dtype or device) → 8-bit RGB interleaved: values are
 * clamped to [0, 1], multiplied by 255 in float32 and rounded half to even (numpy's `(x * 255).round()`).
 */
export function toUint8(image: Tensor): RgbImage {
  const [height, width] = imageDims(image, 'toUint8');
  const v = image.toFloat32();
  const plane = width * height;
  const data = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    data[3 * p] = toByte(v[p]!);
    data[3 * p + 1] = toByte(v[plane + p]!);
    data[3 * p + 2] = toByte(v[2 * plane + p]!);
  }
  return { data, width, height };
}

/** Writes an image tensor [1, 3, H, W] or [3, H, W] in [0, 1] as an 8-bit RGB PNG (converted by {@link toUint8}). */
export function writePng(path: string, image: Tensor): void {
  check(typeof path === 'string' && path.length > 0, 'ARG', 'writePng: path must be a non-empty string');
  let rgb: RgbImage;
  try {
    rgb = toUint8(image);
  } catch (e) {
    if (e instanceof HgcError) throw new HgcError(e.code, `writePng ${path}: ${e.message}`);
    /* c8 ignore next */
    throw e;
  }
  writeRgbPng(path, rgb);
}

/** Writes 8-bit RGB pixels (see {@link RgbImage}) as a PNG. */
export function writeRgbPng(path: string, image: RgbImage): void {
  check(typeof path === 'string' && path.length > 0, 'ARG', 'writeRgbPng: path must be a non-empty string');
  const { data, width, height } = image;
  check(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && data instanceof Uint8Array &&
    data.length === 3 * width * height, 'SHAPE',
    () => `writePng ${path}: expected ${width}×${height}×3 bytes of RGB, got ${data?.length ?? 'none'}`);
  const encoded = PNG.sync.write({ width, height, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) } as unknown as PNG,
    { colorType: 2, inputColorType: 2, inputHasAlpha: false, bitDepth: 8 });
  try {
    fs.writeFileSync(path, encoded);
  } catch (e) {
    throw new HgcError('IO', `writePng ${path}: cannot write: ${(e as Error).message}`);
  }
}
