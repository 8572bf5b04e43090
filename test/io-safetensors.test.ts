// Safetensors: the real fixtures, write → read round trips, and hostile files that must fail with HgcError('IO').
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, tensor } from '../dist/src/index.js';
import { SafetensorsFile, alignedView, loadSafetensors, writeSafetensors } from '../dist/src/io/safetensors.js';
import { testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });
const fixtures = path.resolve(__dirname, '../../shared/fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-safetensors-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
/** Writes a file made of an 8-byte length (`len`, default the header's byte length), the header text and `data`. */
function rawFile(header: string | Uint8Array | object, data: Uint8Array | number = 0, len?: bigint): string {
  const h = header instanceof Uint8Array ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const l = Buffer.alloc(8);
  l.writeBigUInt64LE(len ?? BigInt(h.byteLength), 0);
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const p = path.join(tmp, `f${counter++}.safetensors`);
  fs.writeFileSync(p, Buffer.concat([l, h, d]));
  return p;
}

function stats(x: Float32Array): { min: number; max: number; std: number } {
  let min = Infinity, max = -Infinity, sum = 0;
  for (const v of x) { min = Math.min(min, v); max = Math.max(max, v); sum += v; }
  const mean = sum / x.length;
  let sq = 0;
  for (const v of x) sq += (v - mean) ** 2;
  return { min, max, std: x.length > 1 ? Math.sqrt(sq / (x.length - 1)) : 0 }; // torch.std: unbiased
}

t.test('unet-tiny weights: keys, shapes, parameter count, metadata', async (t) => {
  const file = SafetensorsFile.open(path.join(fixtures, 'golden/unet-tiny/diffusion_pytorch_model.safetensors'));
  const info = JSON.parse(fs.readFileSync(path.join(fixtures, 'golden/unet-tiny/golden_info.json'), 'utf8'));
  const keys = file.keys();
  t.equal(keys.length, 304);
  let params = 0;
  for (const k of keys) {
    const i = file.info(k);
    t.equal(i.dtype, 'F32');
    params += i.byteLength / 4;
  }
  t.equal(params, info.num_parameters, 'parameter count matches golden_info.json');
  t.same(file.info('conv_in.weight'), { dtype: 'F32', shape: [32, 4, 3, 3], byteLength: 32 * 4 * 9 * 4 });
  t.same(file.metadata(), { format: 'pt' });
  t.ok(file.has('conv_in.bias'));
  t.notOk(file.has('nope'));
  const w = file.load('conv_in.weight');
  t.equal(w.dtype, 'f32');
  t.same(w.shape, [32, 4, 3, 3]);
  const raw = file.readRaw('conv_in.weight');
  t.same(Array.from(w.data()), Array.from(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4)));
  w.dispose();
  t.throws(() => file.info('nope'), code('IO'));
  t.throws(() => file.load('nope'), code('IO'));
  file.close();
  file.close();
  t.ok(file.closed);
  t.throws(() => file.readRaw('conv_in.weight'), code('IO'), 'reads after close fail');
  t.throws(() => file.load('conv_in.weight'), code('IO'));
  t.equal(file.keys().length, 304, 'the header stays available after close');
});

t.test('unet-tiny golden tensors match min/max/std of golden_info.json', async (t) => {
  const info = JSON.parse(fs.readFileSync(path.join(fixtures, 'golden/unet-tiny/golden_info.json'), 'utf8'));
  for (const caseName of ['golden_t10.safetensors', 'golden_t500.safetensors']) {
    const expected = info.cases[caseName].tensors as Record<string, { shape: number[]; dtype: string; min: number; max: number; std: number }>;
    const loaded = loadSafetensors(path.join(fixtures, 'golden/unet-tiny', caseName));
    t.same([...loaded.keys()].sort(), Object.keys(expected).sort(), `${caseName}: same tensor names`);
    for (const [name, e] of Object.entries(expected)) {
      const x = loaded.get(name)!;
      t.same(x.shape, e.shape, `${name} shape`);
      const s = stats(x.toFloat32());
      t.equal(s.min, e.min, `${name} min`);
      t.equal(s.max, e.max, `${name} max`);
      t.ok(Math.abs(s.std - e.std) <= 1e-3 * Math.max(e.std, 1e-6), `${name} std ${s.std} vs ${e.std}`);
    }
    for (const x of loaded.values()) x.dispose();
  }
});

t.test('TAESD BF16 weights: load as bf16, widen exactly to f32', async (t) => {
  const source = fs.readFileSync(path.join(fixtures, 'taesd/SOURCE.txt'), 'utf8');
  for (const [which, params] of [['decoder', 1222531], ['encoder', 1222532]] as const) {
    t.match(source, `${which === 'decoder' ? 'Decoder' : 'Encoder'}`);
    const file = SafetensorsFile.open(path.join(fixtures, `taesd/taesd_${which}.safetensors`));
    t.equal(file.keys().length, 67);
    t.same(file.metadata(), {});
    let n = 0;
    for (const k of file.keys()) {
      t.equal(file.info(k).dtype, 'BF16');
      n += file.info(k).byteLength / 2;
    }
    t.equal(n, params, `${which} parameter count`);
    const key = which === 'decoder' ? '1.weight' : '0.weight';
    t.same(file.info(key).shape, which === 'decoder' ? [64, 4, 3, 3] : [64, 3, 3, 3]);
    const b = file.load(key);
    t.equal(b.dtype, 'bf16');
    const bits = b.data() as Uint16Array;
    const f = file.load(key, { dtype: 'f32' });
    t.equal(f.dtype, 'f32');
    const fv = f.data() as Float32Array;
    const widened = new Float32Array(new Uint32Array(Array.from(bits, (x) => x << 16)).buffer);
    t.same(Array.from(fv), Array.from(widened), 'f32 bits = bf16 bits << 16');
    t.ok(fv.some((v) => v !== 0), 'not all zeros');
    t.ok(fv.every((v) => Number.isFinite(v) && Math.abs(v) < 100), 'plausible trained weights');
    const meta = file.load(key, { device: 'meta', dtype: 'f16' });
    t.equal(meta.device, 'meta');
    t.equal(meta.dtype, 'f16');
    t.same(meta.shape, file.info(key).shape);
    for (const x of [b, f, meta]) x.dispose();
    file.close();
  }
});

t.test('non-loadable dtypes are listed; load gives a clear DTYPE error, readRaw works', async (t) => {
  const file = SafetensorsFile.open(path.join(fixtures, 'toy-controlnet/golden/case_000.safetensors'));
  const i64 = file.keys().find((k) => file.info(k).dtype === 'I64');
  t.ok(i64, 'the fixture holds an I64 tensor');
  const err = t.throws(() => file.load(i64!), code('DTYPE')) as Error;
  t.match(err.message, /I64/);
  t.equal(file.readRaw(i64!).byteLength, file.info(i64!).byteLength);
  file.close();

  const p = rawFile({ a: { dtype: 'F64', shape: [2], data_offsets: [0, 16] }, b: { dtype: 'U8', shape: [3], data_offsets: [16, 19] },
    c: { dtype: 'BOOL', shape: [1], data_offsets: [19, 20] } }, 20);
  const f2 = SafetensorsFile.open(p);
  t.same(f2.keys(), ['a', 'b', 'c']);
  for (const k of ['a', 'b', 'c']) t.throws(() => f2.load(k), code('DTYPE'));
  f2.close();
  t.throws(() => loadSafetensors(p), code('DTYPE'));
});

t.test('round trips: f32, f16, bf16, conversions, metadata, scalars and empty tensors', async (t) => {
  const values = [0, 1, -1, 0.5, 3.140625, -2.25, 1e-3, 65504, 1e-8, -0];
  const a = tensor(values.slice(0, 6), [2, 3]);
  const h = tensor(Uint16Array.from(values, (v) => f32ToF16Bits(v)), [10], { dtype: 'f16' });
  const b = tensor(Uint16Array.from(values, (v) => f32ToBf16Bits(v)), [5, 2], { dtype: 'bf16' });
  const s = tensor([42], []);
  const e = tensor([], [0, 4], { dtype: 'f16' });
  const p = path.join(tmp, 'round.safetensors');
  writeSafetensors(p, { 'z.a': a, 'm.h': h, 'b': b, scalar: s, empty: e }, { note: 'calibration', 'ü': 'ß' });
  const size = fs.statSync(p).size;
  const len = Number(fs.readFileSync(p).readBigUInt64LE(0));
  t.equal((8 + len) % 8, 0, 'header padded to 8 bytes');
  t.equal(size, 8 + len + 6 * 4 + 10 * 2 + 10 * 2 + 4, 'contiguous data');

  const file = SafetensorsFile.open(p);
  t.same(file.metadata(), { note: 'calibration', 'ü': 'ß' });
  t.same(file.keys().sort(), ['b', 'empty', 'm.h', 'scalar', 'z.a']);
  t.same(file.info('m.h'), { dtype: 'F16', shape: [10], byteLength: 20 });
  t.same(file.info('b'), { dtype: 'BF16', shape: [5, 2], byteLength: 20 });
  t.same(file.info('scalar'), { dtype: 'F32', shape: [], byteLength: 4 });
  t.same(file.info('empty'), { dtype: 'F16', shape: [0, 4], byteLength: 0 });
  const a2 = file.load('z.a');
  t.same(Array.from(a2.data()), Array.from(a.data()));
  const h2 = file.load('m.h');
  t.equal(h2.dtype, 'f16');
  t.same(Array.from(h2.data()), Array.from(h.data()));
  const b2 = file.load('b');
  t.equal(b2.dtype, 'bf16');
  t.same(Array.from(b2.data()), Array.from(b.data()));
  const s2 = file.load('scalar');
  t.same(Array.from(s2.data()), [42]);
  const e2 = file.load('empty');
  t.same(e2.shape, [0, 4]);
  t.equal(e2.data().length, 0);

  // conversions go through cast
  const a16 = file.load('z.a', { dtype: 'f16' });
  t.equal(a16.dtype, 'f16');
  t.same(Array.from(a16.data() as Uint16Array, f16BitsToF32), values.slice(0, 6).map((v) => f16BitsToF32(f32ToF16Bits(v))));
  const abf = file.load('z.a', { dtype: 'bf16' });
  t.same(Array.from(abf.data() as Uint16Array, bf16BitsToF32), values.slice(0, 6).map((v) => bf16BitsToF32(f32ToBf16Bits(v))));
  const h32 = file.load('m.h', { dtype: 'f32' });
  t.same(Array.from(h32.data()), values.map((v) => f16BitsToF32(f32ToF16Bits(v))));
  const hbf = file.load('m.h', { dtype: 'bf16' });
  t.equal(hbf.dtype, 'bf16');
  t.throws(() => file.load('m.h', { dtype: 'f64' as 'f32' }), code('DTYPE'));
  t.throws(() => file.load('m.h', { device: 'tpu' as 'cpu' }), code('DEVICE'));
  t.throws(() => file.load('m.h', 5 as never), code('ARG'));
  file.close();

  const all = loadSafetensors(p, { dtype: 'f32' });
  t.same([...all.keys()].sort(), ['b', 'empty', 'm.h', 'scalar', 'z.a']);
  for (const x of all.values()) t.equal(x.dtype, 'f32');
  t.same(Array.from(all.get('b')!.data()), Array.from(b.toFloat32()));
  for (const x of [a, h, b, s, e, a2, h2, b2, s2, e2, a16, abf, h32, hbf, ...all.values()]) x.dispose();

  // no metadata; rewriting over an existing file; odd names
  const q = path.join(tmp, 'round2.safetensors');
  const x = tensor([1, 2, 3], [3]);
  const odd: Record<string, typeof x> = { 'naïve "name"': x };
  Object.defineProperty(odd, '__proto__', { value: x, enumerable: true });
  writeSafetensors(q, odd);
  writeSafetensors(q, odd);
  const back = loadSafetensors(q);
  t.same(Array.from(back.get('__proto__')!.data()), [1, 2, 3]);
  t.same(Array.from(back.get('naïve "name"')!.data()), [1, 2, 3]);
  for (const y of back.values()) y.dispose();
  const f3 = SafetensorsFile.open(q);
  t.same(f3.metadata(), {});
  f3.close();
  t.same(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp')), [], 'no temporary files left behind');

  // writer argument checks
  t.throws(() => writeSafetensors(q, { __metadata__: x }), code('ARG'));
  t.throws(() => writeSafetensors(q, { a: 5 as never }), code('ARG'));
  t.throws(() => writeSafetensors(q, { a: x }, { k: 1 as never }), code('ARG'));
  t.throws(() => writeSafetensors(q, { a: x }, [] as never), code('ARG'));
  t.throws(() => writeSafetensors('', { a: x }), code('ARG'));
  t.throws(() => writeSafetensors(q, null as never), code('ARG'));
  t.throws(() => writeSafetensors(path.join(tmp, 'no/such/dir/x.safetensors'), { a: x }), code('IO'));
  const m = x.to('meta');
  t.throws(() => writeSafetensors(q, { a: m }), code('DEVICE'));
  x.dispose();
  t.throws(() => writeSafetensors(q, { a: x }), code('DISPOSED'));
});

t.test('alignedView copies unaligned bytes', async (t) => {
  const backing = new Uint8Array(13);
  const f = new Float32Array([1.5, -2]);
  backing.set(new Uint8Array(f.buffer), 1);
  const view = alignedView(backing.subarray(1, 9), Float32Array);
  t.same(Array.from(view), [1.5, -2]);
  const aligned = alignedView(backing.subarray(4, 12), Uint16Array);
  t.equal(aligned.buffer, backing.buffer, 'aligned input is not copied');
  t.throws(() => alignedView(backing.subarray(0, 3), Float32Array), code('IO'));
});

const ok = (o: Record<string, unknown> = {}) => ({ dtype: 'F32', shape: [2], data_offsets: [0, 8], ...o });

const hostile: Array<[string, () => string, RegExp]> = [
  ['empty file', () => { const p = path.join(tmp, 'empty.safetensors'); fs.writeFileSync(p, ''); return p; }, /too short/],
  ['7-byte file', () => { const p = path.join(tmp, 'seven.safetensors'); fs.writeFileSync(p, Buffer.alloc(7)); return p; }, /7 bytes, too short/],
  ['truncated header (length larger than file)', () => rawFile('{"a":{"dtype":"F32","shape":[1],', 0, 200n), /header length 200 is larger/],
  ['header length beyond the 100 MB limit', () => rawFile('{}', 0, 2n ** 63n), /exceeds/],
  ['header length 2^64-1', () => rawFile('{}', 0, 2n ** 64n - 1n), /exceeds/],
  ['header length zero', () => rawFile('{}', 0, 0n), /empty/],
  ['header not JSON', () => rawFile('{"a": nope}'), /not valid JSON/],
  ['header not UTF-8', () => rawFile(Buffer.from('{"\xff":{}}', 'latin1')), /not valid UTF-8/],
  ['header with a byte-order mark', () => rawFile(Buffer.from('\ufeff{}', 'utf8')), /not valid JSON/],
  ['header a JSON array', () => rawFile('[1, 2, 3]'), /must be a JSON object, got an array/],
  ['header JSON null', () => rawFile('null'), /must be a JSON object, got null/],
  ['header a JSON number', () => rawFile('42'), /must be a JSON object, got number/],
  ['entry not an object', () => rawFile({ a: [1, 2] }), /tensor "a": entry must be an object/],
  ['entry null', () => rawFile({ a: null }), /tensor "a": entry must be an object/],
  ['unknown dtype', () => rawFile({ a: ok({ dtype: 'F128' }) }, 8), /tensor "a": unknown dtype "F128"/],
  ['missing dtype', () => rawFile({ a: ok({ dtype: undefined }) }, 8), /tensor "a": unknown dtype undefined/],
  ['dtype not a string', () => rawFile({ a: ok({ dtype: 4 }) }, 8), /unknown dtype 4/],
  ['dtype "toString"', () => rawFile({ a: ok({ dtype: 'toString' }) }, 8), /unknown dtype "toString"/],
  ['shape not an array', () => rawFile({ a: ok({ shape: 2 }) }, 8), /tensor "a": shape must be an array/],
  ['shape with a negative dim', () => rawFile({ a: ok({ shape: [-2] }) }, 8), /tensor "a": shape \[-2\] must hold non-negative/],
  ['shape with a fractional dim', () => rawFile({ a: ok({ shape: [1.5, 2] }) }, 8), /non-negative safe integers; 1.5/],
  ['shape with a huge dim', () => rawFile({ a: ok({ shape: [2 ** 60] }) }, 8), /non-negative safe integers/],
  ['shape with 1e400', () => rawFile('{"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,8]}}', 8), /non-negative safe integers/],
  ['shape with a string dim', () => rawFile({ a: ok({ shape: ['2'] }) }, 8), /non-negative safe integers/],
  ['shape product overflowing 2^53', () => rawFile({ a: ok({ shape: [2 ** 30, 2 ** 30, 2 ** 30] }) }, 8), /needs \d+/],
  ['offsets not an array', () => rawFile({ a: ok({ data_offsets: 8 }) }, 8), /data_offsets must be an array/],
  ['offsets of length 3', () => rawFile({ a: ok({ data_offsets: [0, 4, 8] }) }, 8), /data_offsets must be an array \[begin, end\]/],
  ['negative offset', () => rawFile({ a: ok({ data_offsets: [-8, 0] }) }, 8), /must be non-negative integers/],
  ['fractional offset', () => rawFile({ a: ok({ data_offsets: [0, 7.5] }) }, 8), /must be non-negative integers/],
  ['end before begin', () => rawFile({ a: ok({ data_offsets: [8, 0] }) }, 8), /end before they begin/],
  ['offsets out of range', () => rawFile({ a: ok({ data_offsets: [8, 16] }) }, 8), /tensor "a": data_offsets \[8, 16\] run past the end of the 8-byte/],
  ['huge offsets', () => rawFile({ a: ok({ data_offsets: [2 ** 52, 2 ** 52 + 8] }) }, 8), /run past the end/],
  ['offsets not matching shape × dtype', () => rawFile({ a: ok({ data_offsets: [0, 4] }) }, 8), /span 4 bytes but shape \[2\] of F32 needs 8/],
  ['offsets not matching for F16', () => rawFile({ a: ok({ dtype: 'F16' }) }, 8), /span 8 bytes but shape \[2\] of F16 needs 4/],
  ['overlapping tensors', () => rawFile({ a: ok({ data_offsets: [0, 8] }), b: ok({ data_offsets: [4, 12] }) }, 12), /"a" \[0, 8\) and "b" \[4, 12\) overlap/],
  ['identical tensors', () => rawFile({ a: ok(), b: ok() }, 8), /overlap/],
  ['tensor inside another', () => rawFile({ a: ok({ shape: [4], data_offsets: [0, 16] }), b: ok({ shape: [1], data_offsets: [4, 8] }) }, 16), /overlap/],
  ['metadata not an object', () => rawFile({ __metadata__: 'x', a: ok() }, 8), /__metadata__ must be an object of strings/],
  ['metadata an array', () => rawFile({ __metadata__: ['x'], a: ok() }, 8), /__metadata__ must be an object/],
  ['metadata value a number', () => rawFile({ __metadata__: { format: 'pt', steps: 20 }, a: ok() }, 8), /__metadata__ value of "steps" must be a string, got 20/],
  ['metadata value an object', () => rawFile({ __metadata__: { x: { y: 'z' } } }, 0), /value of "x" must be a string/],
  ['missing file', () => path.join(tmp, 'does-not-exist.safetensors'), /cannot open/],
  ['a directory', () => tmp, /(cannot open|read failed|EISDIR)/],
];

for (const [what, make, message] of hostile) {
  t.test(`hostile file: ${what}`, async (t) => {
    const p = make();
    const err = t.throws(() => SafetensorsFile.open(p), code('IO')) as Error;
    t.match(err.message, message, 'message names the problem');
    if (fs.existsSync(p)) t.match(err.message, p, 'message names the file');
    t.throws(() => loadSafetensors(p), code('IO'));
  });
}

t.test('accepted oddities: gaps, empty tensors anywhere, padding, extra fields, no tensors', async (t) => {
  const data = new Uint8Array(new Float32Array([1, 2, 0, 3, 4]).buffer);
  const p = rawFile({
    b: ok({ data_offsets: [12, 20], extra: 'ignored' }), a: ok(), e: ok({ shape: [0, 3], data_offsets: [4, 4] }),
    __metadata__: { k: 'v' },
  }, data);
  const f = SafetensorsFile.open(p);
  t.same(f.keys(), ['a', 'e', 'b'], 'keys in file order');
  t.same(Array.from(f.load('b').data()), [3, 4]);
  t.same(Array.from(f.load('a').data()), [1, 2]);
  t.same(f.load('e').shape, [0, 3]);
  f.close();
  const padded = rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}     ', new Uint8Array(new Float32Array([7]).buffer));
  t.same(Array.from(loadSafetensors(padded).get('a')!.data()), [7]);
  t.same(SafetensorsFile.open(rawFile({})).keys(), []);
  t.same(SafetensorsFile.open(rawFile({ __metadata__: {} })).metadata(), {});
  t.throws(() => SafetensorsFile.open('' as string), code('ARG'));
  const g = SafetensorsFile.open(padded);
  t.throws(() => g.info(3 as never), code('ARG'));
  g.close();
});

t.test('odd data offsets: unaligned f32 data is copied into an aligned buffer', async (t) => {
  // Header of 9 bytes puts the data area at file offset 17; tensor "a" begins 1 byte later.
  const data = new Uint8Array(9);
  data.set(new Uint8Array(new Float32Array([1.25, -7]).buffer), 1);
  const p = rawFile({ a: ok({ data_offsets: [1, 9] }) }, data);
  const m = loadSafetensors(p);
  t.same(Array.from(m.get('a')!.data()), [1.25, -7]);
});

t.test('file truncated after open: readRaw and load fail with IO', async (t) => {
  const p = path.join(tmp, 'trunc.safetensors');
  const a = tensor([1, 2, 3, 4], [4]);
  const b = tensor([5, 6, 7, 8], [4]);
  writeSafetensors(p, { a, b });
  const file = SafetensorsFile.open(p);
  const size = fs.statSync(p).size;
  fs.truncateSync(p, size - 6);
  t.same(Array.from(file.load('a').data()), [1, 2, 3, 4], 'intact tensor still reads');
  const err = t.throws(() => file.readRaw('b'), code('IO')) as Error;
  t.match(err.message, /tensor "b"/);
  t.match(err.message, /truncated/);
  t.throws(() => file.load('b'), code('IO'));
  fs.truncateSync(p, 0);
  t.throws(() => file.readRaw('a'), code('IO'));
  file.close();
  t.throws(() => loadSafetensors(p), code('IO'));
  a.dispose();
  b.dispose();
});

t.test('loadSafetensors disposes what it loaded when a later tensor fails', async (t) => {
  const p = rawFile({ a: ok(), z: { dtype: 'I32', shape: [1], data_offsets: [8, 12] } }, 12);
  t.throws(() => loadSafetensors(p), code('DTYPE'));
});

for (const device of testDevices('cast')) {
  t.test(`load onto ${device}, with and without conversion`, async (t) => {
    const file = SafetensorsFile.open(path.join(fixtures, 'taesd/taesd_decoder.safetensors'));
    const ref = file.load('1.weight', { dtype: 'f32' });
    const x = file.load('1.weight', { device: device as 'cpu' });
    t.equal(x.device, device);
    t.equal(x.dtype, 'bf16');
    const y = file.load('1.weight', { device: device as 'cpu', dtype: 'f32' });
    t.equal(y.device, device);
    t.same(Array.from(y.data()), Array.from(ref.data()));
    const p = path.join(tmp, `dev-${device}.safetensors`);
    writeSafetensors(p, { w: y });
    const back = loadSafetensors(p, { device: device as 'cpu' });
    t.same(Array.from(back.get('w')!.data()), Array.from(ref.data()));
    for (const z of [ref, x, y, ...back.values()]) z.dispose();
    file.close();
  });
}
