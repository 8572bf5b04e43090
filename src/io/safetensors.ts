/**
 * Safetensors reading and writing.
 *
 * File layout: an 8-byte little-endian unsigned header length N, then N bytes of UTF-8 JSON (an object mapping
 * tensor names to `{ dtype, shape, data_offsets: [begin, end] }`, plus an optional `__metadata__` string map),
 * then the data area; offsets are relative to the start of the data area.
 *
 * {@link SafetensorsFile.open} reads only the length and the header, and checks all of it before any tensor
 * data is touched. Tensors are then read one at a time, straight from the file at their offset, so a file is
 * never held in memory whole. Every problem with a file is an `HgcError('IO')` naming the file, the tensor and
 * what is wrong.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';

import { type DType, checkDType } from '../dtype.js';
import { HgcError, check, shapeStr } from '../errors.js';
import { tensor, zeros } from '../creation.js';
import { type Device, Tensor, checkDevice } from '../tensor.js';

/** Element types a safetensors header may name. Only F32, F16 and BF16 can be loaded as tensors. */
export type SafetensorsDType =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'F8_E8M0'
  | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32'
  | 'I64' | 'U64' | 'F64';

/** Bytes per element of each known safetensors dtype. */
const ELEMENT_SIZE: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
});

/** File dtype → hgc dtype, for the loadable ones. */
const TO_HGC: Readonly<Partial<Record<SafetensorsDType, DType>>> = Object.freeze({ F32: 'f32', F16: 'f16', BF16: 'bf16' });

/** hgc dtype → file dtype. */
const FROM_HGC: Readonly<Record<DType, SafetensorsDType>> = Object.freeze({ f32: 'F32', f16: 'F16', bf16: 'BF16' });

/** Largest header accepted (the reference implementation uses the same bound). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Largest single read handed to fs.readSync (reads above 2 GiB are split). */
const READ_CHUNK = 1 << 30;

/** Description of one tensor in a file. */
export interface SafetensorsInfo {
  /** Element type as written in the file. */
  readonly dtype: SafetensorsDType;
  /** Dimensions. */
  readonly shape: readonly number[];
  /** Size of the tensor's data in bytes. */
  readonly byteLength: number;
}

/** Options of {@link SafetensorsFile.load} and {@link loadSafetensors}. */
export interface SafetensorsLoadOptions {
  /** Convert to this dtype (default: keep the file's dtype). */
  dtype?: DType;
  /** Device of the new tensor (default 'cpu'). 'meta' reads no data. */
  device?: Device;
}

interface Entry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

let hostChecked = false;

/** Throws unless the host is little-endian (safetensors data is little-endian; typed arrays use host order). */
function checkHostEndianness(): void {
  if (hostChecked) return;
  /* c8 ignore next 3 */
  if (os.endianness() !== 'LE') {
    throw new HgcError('IO', 'safetensors: this host is big-endian; only little-endian hosts are supported');
  }
  hostChecked = true;
}

function isKnownDType(d: unknown): d is SafetensorsDType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(ELEMENT_SIZE, d);
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch { /* c8 ignore start */
    s = String(v); // a BigInt or a cycle passed by a caller
  } /* c8 ignore stop */
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * Reads exactly `length` bytes at `position` of `fd` into `dest` (from its start), in chunks; throws IO naming
 * `what` when the file ends early.
 */
function readExact(fd: number, dest: Uint8Array, position: number, what: () => string): void {
  let done = 0;
  const length = dest.byteLength;
  while (done < length) {
    const want = Math.min(length - done, READ_CHUNK);
    let n: number;
    try {
      n = fs.readSync(fd, dest, done, want, position + done);
    } catch (e) {
      throw new HgcError('IO', `${what()}: read failed: ${(e as Error).message}`);
    }
    if (n === 0) {
      throw new HgcError('IO', `${what()}: file ended after ${done} of ${length} bytes (truncated?)`);
    }
    done += n;
  }
}

/** A Uint8Array of `n` bytes on its own ArrayBuffer at offset 0 (so any typed view of it is aligned). */
function allocBytes(n: number, what: () => string): Buffer {
  try {
    return Buffer.allocUnsafeSlow(n);
  } catch (e) { /* c8 ignore start */
    throw new HgcError('OOM', `${what()}: cannot allocate ${n} bytes: ${(e as Error).message}`);
  } /* c8 ignore stop */
}

/**
 * A view of `bytes` as `Ctor` elements, copying into a fresh, aligned buffer when `bytes` does not start on an
 * element boundary. Little-endian data on a little-endian host needs no byte swapping.
 */
export function alignedView<T extends Float32Array | Uint16Array>(
  bytes: Uint8Array, Ctor: { new (buffer: ArrayBuffer, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number },
): T {
  const size = Ctor.BYTES_PER_ELEMENT;
  check(bytes.byteLength % size === 0, 'IO', () => `safetensors: ${bytes.byteLength} bytes is not a whole number of ${size}-byte elements`);
  let src = bytes;
  if (bytes.byteOffset % size !== 0 || !(bytes.buffer instanceof ArrayBuffer)) {
    src = new Uint8Array(bytes.byteLength);
    src.set(bytes);
  }
  return new Ctor(src.buffer as ArrayBuffer, src.byteOffset, src.byteLength / size);
}

/** An open safetensors file. Create with {@link SafetensorsFile.open}; release with {@link SafetensorsFile.close}. */
export class SafetensorsFile {
  /** The path the file was opened with. */
  readonly path: string;
  #fd: number | null;
  readonly #entries: Map<string, Entry>;
  readonly #order: readonly string[];
  readonly #metadata: Readonly<Record<string, string>> | null;
  /** Absolute file position of the data area. */
  readonly #dataStart: number;

  private constructor(path: string, fd: number, entries: Map<string, Entry>, order: string[],
    metadata: Record<string, string> | null, dataStart: number) {
    this.path = path;
    this.#fd = fd;
    this.#entries = entries;
    this.#order = Object.freeze(order);
    this.#metadata = metadata === null ? null : Object.freeze(metadata);
    this.#dataStart = dataStart;
  }

  /**
   * Opens `path`, reads its header and validates it completely (header length, JSON, every entry's dtype,
   * shape and offsets, overlaps, metadata). Throws `HgcError('IO')` on any problem; reads no tensor data.
   */
  static open(path: string): SafetensorsFile {
    check(typeof path === 'string' && path.length > 0, 'ARG', () => `safetensors: path must be a non-empty string, got ${describe(path)}`);
    checkHostEndianness();
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new HgcError('IO', `safetensors ${path}: cannot open: ${(e as Error).message}`);
    }
    try {
      const parsed = parseHeader(path, fd);
      return new SafetensorsFile(path, fd, parsed.entries, parsed.order, parsed.metadata, parsed.dataStart);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#fd === null;
  }

  /** Tensor names, in the order their data lies in the file. */
  keys(): string[] {
    return [...this.#order];
  }

  /** True when the file holds a tensor called `name`. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** dtype, shape and byte length of tensor `name`. */
  info(name: string): SafetensorsInfo {
    const e = this.#entry(name);
    return { dtype: e.dtype, shape: [...e.shape], byteLength: e.end - e.begin };
  }

  /** The `__metadata__` map (empty when the file has none). */
  metadata(): Record<string, string> {
    return { ...(this.#metadata ?? {}) };
  }

  /**
   * The bytes of tensor `name`, read from the file into a fresh buffer (its own ArrayBuffer, offset 0). Throws
   * IO if the file is shorter than its header promised (for example truncated after opening).
   */
  readRaw(name: string): Buffer {
    const e = this.#entry(name);
    const fd = this.#liveFd(name);
    const what = () => `safetensors ${this.path}: tensor ${JSON.stringify(name)}`;
    const buf = allocBytes(e.end - e.begin, what);
    readExact(fd, buf, this.#dataStart + e.begin, what);
    return buf;
  }

  /**
   * Tensor `name` as an hgc Tensor, in the file's dtype unless `opts.dtype` asks for another (converted with
   * `cast`, rounding to nearest even). F32, F16 and BF16 can be loaded; other dtypes throw `HgcError('DTYPE')`.
   */
  load(name: string, opts?: SafetensorsLoadOptions): Tensor {
    check(opts === undefined || (typeof opts === 'object' && opts !== null), 'ARG', 'safetensors load: options must be an object');
    const e = this.#entry(name);
    const fileDType = TO_HGC[e.dtype];
    if (fileDType === undefined) {
      throw new HgcError('DTYPE', `safetensors ${this.path}: tensor ${JSON.stringify(name)} has dtype ${e.dtype}; ` +
        'only F32, F16 and BF16 can be loaded as tensors (readRaw gives the bytes)');
    }
    const dtype = opts?.dtype === undefined ? fileDType : checkDType(opts.dtype, 'safetensors load');
    const device = checkDevice(opts?.device ?? 'cpu');
    this.#liveFd(name);
    if (device === 'meta') return zeros(e.shape, { dtype, device });
    const raw = this.readRaw(name);
    const values = fileDType === 'f32' ? alignedView(raw, Float32Array) : alignedView(raw, Uint16Array);
    const loaded = tensor(values, e.shape, { dtype: fileDType, device });
    if (dtype === fileDType) return loaded;
    try {
      return loaded.cast(dtype);
    } finally {
      loaded.dispose();
    }
  }

  /** Closes the file. Idempotent; later reads throw IO. */
  close(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    fs.closeSync(fd);
  }

  #entry(name: string): Entry {
    check(typeof name === 'string', 'ARG', () => `safetensors: tensor name must be a string, got ${describe(name)}`);
    const e = this.#entries.get(name);
    if (e === undefined) {
      throw new HgcError('IO', `safetensors ${this.path}: no tensor named ${JSON.stringify(name)}`);
    }
    return e;
  }

  #liveFd(name: string): number {
    if (this.#fd === null) {
      throw new HgcError('IO', `safetensors ${this.path}: cannot read tensor ${JSON.stringify(name)}: the file is closed`);
    }
    return this.#fd;
  }
}

interface ParsedHeader {
  entries: Map<string, Entry>;
  order: string[];
  metadata: Record<string, string> | null;
  dataStart: number;
}

/** Reads and validates the header of the open file `fd`. */
function parseHeader(path: string, fd: number): ParsedHeader {
  const where = `safetensors ${path}`;
  const fail = (msg: string): never => {
    throw new HgcError('IO', `${where}: ${msg}`);
  };
  const fileSize = fs.fstatSync(fd).size;
  if (fileSize < 8) fail(`file is ${fileSize} bytes, too short for the 8-byte header length`);

  const lenBuf = Buffer.alloc(8);
  readExact(fd, lenBuf, 0, () => `${where}: header length`);
  const headerLen64 = lenBuf.readBigUInt64LE(0);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLen64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLen = Number(headerLen64);
  if (headerLen > fileSize - 8) fail(`header length ${headerLen} is larger than the ${fileSize - 8} bytes after the length field`);
  if (headerLen === 0) fail('header is empty (length 0); expected a JSON object');

  const headerBytes = Buffer.alloc(headerLen);
  readExact(fd, headerBytes, 8, () => `${where}: header`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    fail(`header must be a JSON object, got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`);
  }

  const dataSize = fileSize - 8 - headerLen;
  const entries = new Map<string, Entry>();
  let metadata: Record<string, string> | null = null;
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(value, fail);
      continue;
    }
    entries.set(name, checkEntry(name, value, dataSize, fail));
  }

  // Tensors must not share bytes (empty tensors occupy none); gaps between tensors are accepted.
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let prev: Entry | null = null;
  for (const e of sorted) {
    if (e.begin === e.end) continue;
    if (prev !== null && e.begin < prev.end) {
      fail(`tensors ${JSON.stringify(prev.name)} [${prev.begin}, ${prev.end}) and ${JSON.stringify(e.name)} ` +
        `[${e.begin}, ${e.end}) overlap`);
    }
    prev = e;
  }
  return { entries, order: sorted.map((e) => e.name), metadata, dataStart: 8 + headerLen };
}

function checkMetadata(value: unknown, fail: (msg: string) => never): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`__metadata__ must be an object of strings, got ${describe(value)}`);
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`__metadata__ value of ${JSON.stringify(k)} must be a string, got ${describe(v)}`);
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function checkEntry(name: string, value: unknown, dataSize: number, fail: (msg: string) => never): Entry {
  const t = `tensor ${JSON.stringify(name)}`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`${t}: entry must be an object with dtype, shape and data_offsets, got ${describe(value)}`);
  }
  const v = value as Record<string, unknown>;
  const dtype = v.dtype;
  if (!isKnownDType(dtype)) {
    fail(`${t}: unknown dtype ${describe(dtype)} (known: ${Object.keys(ELEMENT_SIZE).join(', ')})`);
  }
  const shape = v.shape;
  if (!Array.isArray(shape)) fail(`${t}: shape must be an array, got ${describe(shape)}`);
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`${t}: shape ${describe(shape)} must hold non-negative safe integers; ${describe(d)} is not one`);
    }
  }
  const dims = (shape as number[]).map((d) => d + 0); // -0 → 0
  const offsets = v.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    fail(`${t}: data_offsets must be an array [begin, end], got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as unknown[];
  for (const o of [begin, end]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      fail(`${t}: data_offsets ${describe(offsets)} must be non-negative integers`);
    }
  }
  const b = (begin as number) + 0, e = (end as number) + 0;
  if (b > e) fail(`${t}: data_offsets [${b}, ${e}] end before they begin`);
  if (e > dataSize) fail(`${t}: data_offsets [${b}, ${e}] run past the end of the ${dataSize}-byte data area`);
  const elementSize = ELEMENT_SIZE[dtype as SafetensorsDType];
  let expected = BigInt(elementSize);
  for (const d of dims) expected *= BigInt(d);
  if (expected !== BigInt(e - b)) {
    fail(`${t}: data_offsets [${b}, ${e}] span ${e - b} bytes but shape ${shapeStr(dims)} of ${dtype} needs ${expected}`);
  }
  return { name, dtype: dtype as SafetensorsDType, shape: Object.freeze(dims), begin: b, end: e };
}

/**
 * Loads every tensor of a safetensors file into a Map (name → Tensor), in file order, reading one tensor at a
 * time. On failure, tensors already loaded are disposed.
 */
export function loadSafetensors(path: string, opts?: SafetensorsLoadOptions): Map<string, Tensor> {
  const file = SafetensorsFile.open(path);
  const out = new Map<string, Tensor>();
  try {
    for (const name of file.keys()) out.set(name, file.load(name, opts));
    return out;
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  } finally {
    file.close();
  }
}

/**
 * Writes `tensors` (f32, f16 or bf16, on any device but meta) to a safetensors file: names sorted, data
 * contiguous in that order, header padded with spaces to a multiple of 8 bytes, optional string metadata.
 * The file is written to a temporary name next to `path` and renamed into place when complete.
 */
export function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  check(typeof path === 'string' && path.length > 0, 'ARG', () => `writeSafetensors: path must be a non-empty string, got ${describe(path)}`);
  check(tensors !== null && typeof tensors === 'object', 'ARG', 'writeSafetensors: tensors must be an object of name → Tensor');
  check(metadata === undefined || (metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata)), 'ARG',
    'writeSafetensors: metadata must be an object of strings');
  checkHostEndianness();

  const names = Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) {
      check(typeof v === 'string', 'ARG', () => `writeSafetensors: metadata ${JSON.stringify(k)} must be a string, got ${describe(v)}`);
      meta[k] = v;
    }
    header.__metadata__ = meta;
  }
  let offset = 0;
  const list: Tensor[] = [];
  for (const name of names) {
    check(name !== '__metadata__', 'ARG', 'writeSafetensors: "__metadata__" cannot be a tensor name');
    const t = tensors[name];
    check(t instanceof Tensor || (t !== null && typeof t === 'object' && (t as { isTensor?: unknown }).isTensor === true), 'ARG',
      () => `writeSafetensors: ${JSON.stringify(name)} is not a Tensor`);
    t.assertLive(`writeSafetensors: ${JSON.stringify(name)}:`);
    check(t.device !== 'meta', 'DEVICE', () => `writeSafetensors: ${JSON.stringify(name)} is on the meta device and has no data`);
    const bytes = t.size * (t.dtype === 'f32' ? 4 : 2);
    Object.defineProperty(header, name, {
      value: { dtype: FROM_HGC[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] },
      enumerable: true, writable: true, configurable: true,
    });
    offset += bytes;
    list.push(t);
  }

  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - ((8 + jsonBytes) % 8)) % 8);
  const headerBuf = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBuf.byteLength), 0);

  const tmp = nodePath.join(nodePath.dirname(path), `.${nodePath.basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    writeAll(fd, lenBuf);
    writeAll(fd, headerBuf);
    for (const t of list) {
      const data = t.data();
      writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    try { fs.unlinkSync(tmp); } catch { /* nothing to remove */ }
    if (e instanceof HgcError) throw e;
    throw new HgcError('IO', `writeSafetensors ${path}: ${(e as Error).message}`);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) {
    done += fs.writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, READ_CHUNK));
  }
}
