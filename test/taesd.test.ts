// TAESD (diffusers AutoencoderTiny) against the golden outputs, its loaders, and PNG image I/O.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import t from 'tap';

import { MacCounter, SafetensorsFile, type Tensor, countMacs, ops, tensor, writeSafetensors, zeros } from '../dist/src/index.js';
import { readMaskPng, readPng, toUint8, writePng, writeRgbPng } from '../dist/src/io/image.js';
import {
  TAESD_SD_CONFIG, TinyAutoencoder, defaultTaesdDir, loadTaesd, parseTinyAutoencoderConfig,
} from '../dist/src/models/taesd.js';
import { FIXTURES, closeness, goldenPath, readJson } from './helpers/golden';
import { ALL_OPS, isSim, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });
const TAESD_DIR = path.join(FIXTURES, 'taesd');
const EVAL = path.join(FIXTURES, 'toy-controlnet/eval');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-taesd-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const golden = SafetensorsFile.open(goldenPath('taesd', 'golden.safetensors'));
t.teardown(() => golden.close());
const taesd = loadTaesd(TAESD_DIR);
t.teardown(() => taesd.dispose());

function floats(x: Tensor): Float32Array {
  try {
    return x.toFloat32();
  } finally {
    x.dispose();
  }
}

/** PSNR in dB of two images with values in [0, 1]. */
function psnr(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return 10 * Math.log10(1 / (s / a.length));
}

// ---------------------------------------------------------------------------------------------------------------
// The model

t.test('parameter names are the diffusers names of key_map.json, and the config is the golden one', async (t) => {
  const keyMap = readJson(goldenPath('taesd', 'key_map.json')) as Record<string, string>;
  const names = taesd.namedParameters().map(([n]) => n).sort();
  t.same(names, Object.values(keyMap).sort(), 'same parameter set as diffusers');
  for (const [n, p] of taesd.namedParameters()) t.equal(p.tensor?.dtype, 'f32', `${n} widened to f32`);
  t.equal(taesd.parameterCount(), 1_222_532 + 1_222_531, 'encoder + decoder parameter counts of the original files');
  const fromGolden = parseTinyAutoencoderConfig(readJson(goldenPath('taesd', 'config.json')));
  t.same(fromGolden, taesd.config);
  t.same(parseTinyAutoencoderConfig(TAESD_SD_CONFIG), taesd.config, 'the built-in default is TAESD for SD');
  t.equal(taesd.downsampleFactor, 8);
  t.equal(taesd.upsampleFactor, 8);
  t.equal(taesd.config.scalingFactor, 1);
  t.equal(defaultTaesdDir(), process.env.HGC_TAESD_DIR || path.resolve(__dirname, '../../shared/fixtures/taesd'));
});

t.test('golden decode (decoded_a, decoded_b)', async (t) => {
  for (const [input, output] of [['input.latents_a', 'output.decoded_a'], ['input.latents_b', 'output.decoded_b']] as const) {
    const z = golden.load(input);
    const y = taesd.decode(z);
    t.same(y.shape, [1, 3, 128, 128]);
    const c = closeness(floats(y), floats(golden.load(output)));
    t.ok(c.ratio <= 1, `${output}: max abs diff ${c.maxAbs.toExponential(2)} (ratio ${c.ratio.toFixed(3)} of 1e-4 + 1e-4·|b|)`);
    z.dispose();
  }
});

t.test('golden encode and round trip; round-trip PSNR as documented', async (t) => {
  const image = golden.load('input.image');
  const latents = taesd.encode(image);
  t.same(latents.shape, [1, 4, 16, 16]);
  const c = closeness(latents.toFloat32(), floats(golden.load('output.encoded')));
  t.ok(c.ratio <= 1, `encoded: max abs diff ${c.maxAbs.toExponential(2)} (ratio ${c.ratio.toFixed(3)})`);

  const back = taesd.decode(latents);
  const r = closeness(back.toFloat32(), floats(golden.load('output.roundtrip_decoded')));
  t.ok(r.ratio <= 1, `roundtrip_decoded: max abs diff ${r.maxAbs.toExponential(2)} (ratio ${r.ratio.toFixed(3)})`);

  // decodeToUnit = clamp(decode/2 + 0.5, 0, 1)
  const unit = taesd.decodeToUnit(latents);
  const u = floats(unit), d = floats(back);
  let worst = 0, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < u.length; i++) {
    worst = Math.max(worst, Math.abs(u[i]! - Math.min(1, Math.max(0, Math.fround(d[i]! * 0.5 + 0.5)))));
    lo = Math.min(lo, u[i]!);
    hi = Math.max(hi, u[i]!);
  }
  t.equal(worst, 0, 'decodeToUnit is the clamped [0, 1] image');
  t.ok(lo >= 0 && hi <= 1, `decodeToUnit range [${lo}, ${hi}]`);
  t.ok(d.some((v) => v < -1), 'decode itself is not clamped');

  const info = readJson(goldenPath('taesd', 'golden_info.json'));
  const documented = info['roundtrip_psnr_db_on_[0,1]'] as number;
  const p = psnr(u, floats(golden.load('input.image_01')));
  t.ok(Math.abs(p - documented) < 1e-3, `round-trip PSNR ${p.toFixed(4)} dB (documented ${documented.toFixed(4)}, MANIFEST 19.9 dB)`);
  t.ok(Math.abs(p - 19.9) < 0.05, 'MANIFEST: 19.9 dB for the high-frequency golden image');
  for (const x of [image, latents]) x.dispose();
});

t.test('decodeToUnit + toUint8 reproduce the toy-controlnet baseline PNGs (TAESD decode of its final latents)', async (t) => {
  const file = SafetensorsFile.open(path.join(FIXTURES, 'toy-controlnet/baseline/final_latents.safetensors'));
  const all = file.load('latents');
  file.close();
  const decoded = taesd.decodeToUnit(all);  // a batch of 64
  t.same(decoded.shape, [64, 3, 128, 128]);
  let exact = 0, total = 0, worst = 0;
  for (let i = 0; i < 64; i++) {
    const one = ops.slice(decoded, 0, i, i + 1);
    const ours = toUint8(one).data;
    const ref = readPng(path.join(FIXTURES, `toy-controlnet/baseline/case_${String(i).padStart(3, '0')}.png`));
    const theirs = toUint8(ref).data;
    for (let j = 0; j < ours.length; j++) {
      const d = Math.abs(ours[j]! - theirs[j]!);
      worst = Math.max(worst, d);
      if (d === 0) exact++;
      total++;
    }
    one.dispose();
    ref.dispose();
  }
  t.ok(worst <= 1, `at most 1 uint8 level apart (worst ${worst})`);
  t.ok(exact / total > 0.9999, `${exact} of ${total} bytes identical`);
  for (const x of [all, decoded]) x.dispose();
});

t.test('golden decode on every test device', async (t) => {
  for (const device of testDevices(...ALL_OPS).filter((d) => !isSim(d))) {  // whole models: too slow simulated
    if (device === 'cpu') continue;
    const m = loadTaesd(TAESD_DIR, { device: device as 'cuda' });
    const z = golden.load('input.latents_a', { device: device as 'cuda' });
    const c = closeness(floats(m.decode(z)), floats(golden.load('output.decoded_a')));
    t.ok(c.ratio <= 1, `${device}: max abs diff ${c.maxAbs.toExponential(2)}`);
    const e = closeness(floats(m.encode(golden.load('input.image', { device: device as 'cuda' }))), floats(golden.load('output.encoded')));
    t.ok(e.ratio <= 1, `${device} encode: max abs diff ${e.maxAbs.toExponential(2)}`);
    z.dispose();
    m.dispose();
  }
  t.pass('devices checked');
});

t.test('MAC counting: module paths like decoder.layers.3.conv.0', async (t) => {
  const m = new TinyAutoencoder().initMeta();
  const z = zeros([1, 4, 16, 16], { device: 'meta' });
  const { counter } = countMacs(() => m.decode(z));
  const paths = new Set(counter.records.map((r) => r.path));
  for (const p of ['decoder.layers.0', 'decoder.layers.2.conv.0', 'decoder.layers.3.conv.0', 'decoder.layers.3.conv.4', 'decoder.layers.6',
    'decoder.layers.18']) {
    t.ok(paths.has(p), `has ${p}`);
  }
  t.notOk([...paths].some((p) => !p.startsWith('decoder.layers.')), 'every decoder op is under decoder.layers');
  // conv MACs by hand: out·(Cin·9 + bias); 64-channel 3×3 convs at 16², 32², 64², 128²
  const c = (hw: number, cin: number, cout: number, bias: boolean) => hw * hw * cout * (cin * 9 + (bias ? 1 : 0));
  let expected = c(16, 4, 64, true);
  const blocksPer = [3, 3, 3, 1];
  [16, 32, 64, 128].forEach((hw, i) => {
    expected += blocksPer[i]! * 3 * c(hw, 64, 64, true);
    expected += i < 3 ? c(2 * hw, 64, 64, false) : c(hw, 64, 3, true);
  });
  t.equal(counter.total(), expected, `decode of 16×16 latents: ${(expected / 1e9).toFixed(3)} GMACs`);

  const img = zeros([1, 3, 128, 128], { device: 'meta' });
  const enc = countMacs(() => m.encode(img), new MacCounter()).counter;
  const ep = new Set(enc.records.map((r) => r.path));
  t.ok(ep.has('encoder.layers.0') && ep.has('encoder.layers.1.conv.4') && ep.has('encoder.layers.2') && ep.has('encoder.layers.14'));
  t.same(m.encode(img).shape, [1, 4, 16, 16]);
  t.same(m.decodeToUnit(z).shape, [1, 3, 128, 128]);
  m.dispose();
});

// ---------------------------------------------------------------------------------------------------------------
// Loading

function copyDir(from: string, to: string): string {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
  return to;
}

t.test('diffusers-layout folder loads to the same model', async (t) => {
  const dir = path.join(tmp, 'diffusers');
  fs.mkdirSync(dir);
  fs.copyFileSync(goldenPath('taesd', 'config.json'), path.join(dir, 'config.json'));
  const params: Record<string, Tensor> = {};
  for (const [n, p] of taesd.namedParameters()) params[n] = p.tensor!;
  writeSafetensors(path.join(dir, 'diffusion_pytorch_model.safetensors'), params, { format: 'pt' });
  const m = loadTaesd(dir);
  const z = golden.load('input.latents_b');
  t.same(floats(m.decode(z)), floats(taesd.decode(z)), 'identical decode');
  m.dispose();

  const dec = loadTaesd(dir, { parts: 'decoder' });
  t.same(floats(dec.decode(z)), floats(taesd.decode(z)), 'decoder only');
  t.throws(() => dec.encode(golden.load('input.image')), code('ARG'), 'the encoder is not loaded');
  dec.dispose();
  z.dispose();

  const meta = loadTaesd(dir, { device: 'meta' });
  t.equal(meta.namedParameters()[0]![1].tensor!.device, 'meta');
  meta.dispose();

  // a stray tensor outside encoder/decoder
  const stray = path.join(tmp, 'diffusers-stray');
  fs.mkdirSync(stray);
  fs.copyFileSync(goldenPath('taesd', 'config.json'), path.join(stray, 'config.json'));
  writeSafetensors(path.join(stray, 'diffusion_pytorch_model.safetensors'), { ...params, 'quant_conv.weight': params['decoder.layers.18.bias']! });
  t.throws(() => loadTaesd(stray), { ...code('IO'), message: /quant_conv\.weight/ });
  t.ok(loadTaesd(stray, { strict: false }), 'non-strict ignores it');

  // wrong class
  const kl = path.join(tmp, 'diffusers-kl');
  fs.mkdirSync(kl);
  fs.writeFileSync(path.join(kl, 'config.json'), JSON.stringify({ _class_name: 'AutoencoderKL' }));
  t.throws(() => loadTaesd(kl), { ...code('IO'), message: /AutoencoderKL/ });
  // config but no weights
  const empty = path.join(tmp, 'diffusers-empty');
  fs.mkdirSync(empty);
  fs.copyFileSync(goldenPath('taesd', 'config.json'), path.join(empty, 'config.json'));
  t.throws(() => loadTaesd(empty), { ...code('IO'), message: /no weights found/ });
});

t.test('original-layout folder: decoder only, missing or mis-keyed files, configs', async (t) => {
  const dec = loadTaesd(TAESD_DIR, { parts: 'decoder' });
  const z = golden.load('input.latents_a');
  t.same(floats(dec.decode(z)), floats(taesd.decode(z)), 'decoder-only load decodes the same');
  dec.dispose();
  z.dispose();
  const enc = loadTaesd(TAESD_DIR, { parts: 'encoder', dtype: 'bf16' });
  t.equal(enc.encoder.namedParameters()[0]![1].tensor!.dtype, 'bf16', 'kept as bf16 when asked');
  enc.dispose();

  // no config.json: the built-in TAESD config
  const noConfig = path.join(tmp, 'original-noconfig');
  fs.mkdirSync(noConfig);
  for (const f of ['taesd_encoder.safetensors', 'taesd_decoder.safetensors']) fs.copyFileSync(path.join(TAESD_DIR, f), path.join(noConfig, f));
  const m = loadTaesd(noConfig);
  t.same(m.config, taesd.config);
  m.dispose();

  // only the decoder file
  const onlyDec = path.join(tmp, 'original-decoder');
  fs.mkdirSync(onlyDec);
  fs.copyFileSync(path.join(TAESD_DIR, 'taesd_decoder.safetensors'), path.join(onlyDec, 'taesd_decoder.safetensors'));
  t.throws(() => loadTaesd(onlyDec), { ...code('IO'), message: /taesd_encoder\.safetensors is missing/ });
  loadTaesd(onlyDec, { parts: 'decoder' }).dispose();

  // a renamed key: both the missing diffusers name (with its file key) and the stray key are reported
  const bad = copyDir(noConfig, path.join(tmp, 'original-bad'));
  const src = SafetensorsFile.open(path.join(TAESD_DIR, 'taesd_decoder.safetensors'));
  const tensors: Record<string, Tensor> = {};
  for (const k of src.keys()) tensors[k === '3.conv.2.weight' ? '3.conv.3.weight' : k] = src.load(k);
  src.close();
  writeSafetensors(path.join(bad, 'taesd_decoder.safetensors'), tensors);
  t.throws(() => loadTaesd(bad), { ...code('IO'), message: /taesd_decoder\.safetensors:3\.conv\.2\.weight \(decoder\.layers\.2\.conv\.2\.weight\)/ });
  // a key with no layer (decoder index 0 is the clamp)
  writeSafetensors(path.join(bad, 'taesd_decoder.safetensors'), { ...tensors, '0.weight': tensors['1.bias']! });
  t.throws(() => loadTaesd(bad), { ...code('IO'), message: /no decoder layer: 0\.weight/ });
  for (const x of Object.values(tensors)) x.dispose();

  // a wrong shape (the diffusers config says 32 channels)
  const narrow = copyDir(noConfig, path.join(tmp, 'original-narrow'));
  fs.writeFileSync(path.join(narrow, 'config.json'), JSON.stringify({ _class_name: 'AutoencoderTiny', block_out_channels: [32, 32, 32, 32] }));
  t.throws(() => loadTaesd(narrow), { ...code('IO'), message: /shape mismatches/ });

  t.throws(() => loadTaesd(path.join(tmp, 'nowhere')), { ...code('IO'), message: /does not exist/ });
  t.throws(() => loadTaesd(TAESD_DIR, { parts: 'both' as 'all' }), code('ARG'));
});

t.test('config validation', async (t) => {
  t.throws(() => new TinyAutoencoder({ act_fn: 'silu' }), { ...code('ARG'), message: /act_fn/ });
  t.throws(() => new TinyAutoencoder({ upsampling_scaling_factor: 4 }), code('ARG'));
  t.throws(() => new TinyAutoencoder({ num_decoder_blocks: [3, 3] }), { ...code('ARG'), message: /same length/ });
  t.throws(() => new TinyAutoencoder({ encoder_block_out_channels: [32, 64, 64, 64] }), { ...code('ARG'), message: /different widths/ });
  t.throws(() => new TinyAutoencoder({ latent_channels: 0 }), code('ARG'));
  t.throws(() => new TinyAutoencoder({ scaling_factor: 'x' }), code('ARG'));
  t.throws(() => new TinyAutoencoder({ num_encoder_blocks: 'x' }), code('ARG'));
  t.throws(() => parseTinyAutoencoderConfig(null), code('ARG'));
  const small = new TinyAutoencoder({ block_out_channels: [16, 16], num_encoder_blocks: [1, 0], num_decoder_blocks: [0, 1], latent_channels: 2 });
  t.equal(small.downsampleFactor, 2);
  t.same(small.namedParameters().map(([n]) => n), [
    'encoder.layers.0.weight', 'encoder.layers.0.bias',
    'encoder.layers.1.conv.0.weight', 'encoder.layers.1.conv.0.bias', 'encoder.layers.1.conv.2.weight', 'encoder.layers.1.conv.2.bias',
    'encoder.layers.1.conv.4.weight', 'encoder.layers.1.conv.4.bias',
    'encoder.layers.2.weight', 'encoder.layers.3.weight', 'encoder.layers.3.bias',
    'decoder.layers.0.weight', 'decoder.layers.0.bias', 'decoder.layers.3.weight',
    'decoder.layers.4.conv.0.weight', 'decoder.layers.4.conv.0.bias', 'decoder.layers.4.conv.2.weight', 'decoder.layers.4.conv.2.bias',
    'decoder.layers.4.conv.4.weight', 'decoder.layers.4.conv.4.bias', 'decoder.layers.5.weight', 'decoder.layers.5.bias',
  ], 'diffusers layout: stride conv without bias, upsample and ReLU without parameters');
  small.initRandom({ seed: 3 });
  const x = tensor(new Float32Array(3 * 8 * 8).fill(0.25), [1, 3, 8, 8]);
  t.same(small.encode(x).shape, [1, 2, 4, 4]);
  t.throws(() => small.encode(tensor(new Float32Array(4 * 8 * 8), [1, 4, 8, 8])), code('SHAPE'));
  t.throws(() => small.decode(x), { ...code('SHAPE'), message: /latents must be \[N, 2, H, W\]/ });
  t.throws(() => small.decode({} as Tensor), code('ARG'));
  small.dispose();
});

// ---------------------------------------------------------------------------------------------------------------
// PNG

/** A hand-made PNG: IHDR (+ PLTE, tRNS) + one IDAT of unfiltered rows. */
function makePng(width: number, height: number, depth: number, colorType: number, rows: Uint8Array[],
  extra: { plte?: number[]; trns?: number[]; interlace?: boolean } = {}): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  ihdr[12] = extra.interlace ? 1 : 0;
  const raw = Buffer.concat(rows.map((r) => Buffer.concat([Buffer.from([0]), Buffer.from(r)])));
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (extra.plte) parts.push(chunk('PLTE', Buffer.from(extra.plte)));
  if (extra.trns) parts.push(chunk('tRNS', Buffer.from(extra.trns)));
  parts.push(chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

let fileNo = 0;
function tmpFile(bytes: Buffer | string, ext = '.png'): string {
  const p = path.join(tmp, `img${fileNo++}${ext}`);
  fs.writeFileSync(p, bytes);
  return p;
}

t.test('PNG write → read is exact for uint8 values', async (t) => {
  const w = 37, h = 23, plane = w * h;
  const bytes = new Uint8Array(3 * plane);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 3)) % 256;
  bytes[0] = 0;
  bytes[1] = 255;
  const values = new Float32Array(3 * plane);
  for (let i = 0; i < values.length; i++) values[i] = bytes[i]! / 255;
  const img = tensor(values, [1, 3, h, w]);
  const file = path.join(tmp, 'roundtrip.png');
  writePng(file, img);
  const back = readPng(file);
  t.same(back.shape, [1, 3, h, w]);
  t.same(back.toFloat32(), values, 'same float values (k/255)');
  const u8 = toUint8(back);
  t.same([u8.width, u8.height], [w, h]);
  // interleaved: pixel p, channel c = plane c
  let ok = true;
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) if (u8.data[3 * p + c] !== bytes[c * plane + p]) ok = false;
  t.ok(ok, 'toUint8 gives back the bytes, interleaved RGB');

  // a [3, H, W] tensor writes the same file
  const file3 = path.join(tmp, 'roundtrip3.png');
  writePng(file3, img.reshape([3, h, w]));
  t.same(fs.readFileSync(file3), fs.readFileSync(file), '[3, H, W] is accepted');
  writeRgbPng(path.join(tmp, 'direct.png'), u8);
  t.same(readPng(path.join(tmp, 'direct.png')).toFloat32(), values);
  for (const x of [img, back]) x.dispose();
});

t.test('toUint8: clamp, float32 ×255, round half to even (numpy)', async (t) => {
  // values whose float32 product with 255 is exactly k + 0.5
  const halves: number[] = [], expected: number[] = [];
  for (let k = 0; k < 255 && halves.length < 12; k++) {
    let x = Math.fround((k + 0.5) / 255);
    for (let tries = 0; tries < 4 && Math.fround(x * 255) !== k + 0.5; tries++) {
      x = Math.fround(x + (Math.fround(x * 255) < k + 0.5 ? 1 : -1) * x * 2 ** -24);
    }
    if (Math.fround(x * 255) === k + 0.5) {
      halves.push(x);
      expected.push(k % 2 === 0 ? k : k + 1);
    }
  }
  t.ok(halves.length >= 6, `${halves.length} exact halves found`);
  const special = [-0.5, 0, 1, 1.5, NaN, Infinity, -Infinity, 0.1, 0.999];
  const specialExpected = [0, 0, 255, 255, 0, 255, 0, 26, 255];
  const vals = [...halves, ...special];
  const exp = [...expected, ...specialExpected];
  // a 1-pixel-high image: R = G = B = value
  const n = vals.length;
  const data = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) data[c * n + i] = vals[i]!;
  const out = toUint8(tensor(data, [3, 1, n]));
  t.same([...out.data].filter((_, j) => j % 3 === 0), exp);
  t.same([...out.data].filter((_, j) => j % 3 === 2), exp);
});

t.test('reading the toy-controlnet eval files', async (t) => {
  const control = readPng(path.join(EVAL, 'case_000_control.png'));
  t.same(control.shape, [1, 3, 128, 128]);
  t.equal(control.dtype, 'f32');
  const mask = readMaskPng(path.join(EVAL, 'case_000_mask.png'));
  t.same([mask.width, mask.height, mask.data.length], [128, 128, 128 * 128]);
  const classes = new Set(mask.data);
  t.ok([...classes].every((c) => c >= 0 && c <= 5), `classes ${[...classes].sort().join(',')} within 0..5`);
  t.ok(classes.size >= 2, 'several classes present');
  // the control image is CONTROL_PALETTE[mask] (README)
  const palette = [[120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80]];
  const v = control.toFloat32(), plane = 128 * 128;
  let mismatches = 0;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) if (v[c * plane + p] !== Math.fround(palette[mask.data[p]!]![c]! / 255)) mismatches++;
  }
  t.equal(mismatches, 0, 'control = CONTROL_PALETTE[mask], values k/255');
  control.dispose();
});

t.test('PNG variants: grey, grey+alpha, RGBA, 16-bit, palette, 1-bit, tRNS key colour', async (t) => {
  // 8-bit grey 2×1: replicated to RGB; readMaskPng gives the values
  const grey = tmpFile(makePng(2, 1, 8, 0, [Uint8Array.from([3, 200])]));
  t.same(readPng(grey).toFloat32(), Float32Array.from([3, 200, 3, 200, 3, 200].map((x) => x / 255)));
  t.same(readMaskPng(grey), { data: Uint8Array.from([3, 200]), width: 2, height: 1 });
  // grey + alpha: alpha dropped
  const ga = tmpFile(makePng(1, 1, 8, 4, [Uint8Array.from([51, 0])]));
  t.same(readPng(ga).toFloat32(), Float32Array.from([0.2, 0.2, 0.2]));
  t.same(readMaskPng(ga).data, Uint8Array.from([51]));
  // RGBA: alpha dropped, colour kept even where alpha is 0
  const rgba = tmpFile(makePng(1, 1, 8, 6, [Uint8Array.from([10, 20, 30, 0])]));
  t.same(readPng(rgba).toFloat32(), Float32Array.from([10 / 255, 20 / 255, 30 / 255]));
  // 16-bit RGB: full precision, /65535
  const rgb16 = tmpFile(makePng(1, 1, 16, 2, [Uint8Array.from([0x12, 0x34, 0xff, 0xff, 0x00, 0x01])]));
  t.same(readPng(rgb16).toFloat32(), Float32Array.from([0x1234 / 65535, 1, 1 / 65535]));
  t.throws(() => readMaskPng(rgb16), { ...code('IO'), message: /colour/ });
  const grey16 = tmpFile(makePng(1, 1, 16, 0, [Uint8Array.from([0x80, 0x00])]));
  t.same(readPng(grey16).toFloat32(), Float32Array.from([0x8000 / 65535, 0x8000 / 65535, 0x8000 / 65535]));
  t.throws(() => readMaskPng(grey16), { ...code('IO'), message: /16-bit greyscale/ });
  // palette (2 bits per index): colours / 255; refused as a mask
  const pal = tmpFile(makePng(2, 1, 2, 3, [Uint8Array.from([0b0110_0000])], { plte: [255, 0, 0, 0, 128, 0, 1, 2, 3] }));
  t.same(readPng(pal).toFloat32(), Float32Array.from([0, 1 / 255, 128 / 255, 2 / 255, 0, 3 / 255]));
  t.throws(() => readMaskPng(pal), { ...code('IO'), message: /palette/ });
  // 1-bit grey: 0 / 1
  const bits = tmpFile(makePng(3, 1, 1, 0, [Uint8Array.from([0b1010_0000])]));
  t.same(readPng(bits).toFloat32(), Float32Array.from([1, 0, 1, 1, 0, 1, 1, 0, 1]));
  t.same(readMaskPng(bits).data, Uint8Array.from([1, 0, 1]));
  // a tRNS key colour must not change the colour (pngjs blanks those pixels; we put them back)
  const keyed = tmpFile(makePng(2, 1, 8, 0, [Uint8Array.from([4, 5])], { trns: [0, 4] }));
  t.same(readMaskPng(keyed).data, Uint8Array.from([4, 5]));
  const keyedRgb = tmpFile(makePng(1, 1, 8, 2, [Uint8Array.from([9, 8, 7])], { trns: [0, 9, 0, 8, 0, 7] }));
  t.same(readPng(keyedRgb).toFloat32(), Float32Array.from([9 / 255, 8 / 255, 7 / 255]));
  t.same(readPng(grey, { device: 'meta' }).device, 'meta');
  // Adam7-interlaced 3×3 grey, value 10·y + x; passes 1, 4, 5, 6, 7 hold pixels
  const adam7 = tmpFile(makePng(3, 3, 8, 0, [[0], [2], [20, 22], [1], [21], [10, 11, 12]].map((r) => Uint8Array.from(r)), { interlace: true }));
  t.same(readMaskPng(adam7).data, Uint8Array.from([0, 1, 2, 10, 11, 12, 20, 21, 22]));
  t.throws(() => readMaskPng(tmpFile(makePng(3, 3, 8, 0, [[0], [2], [20, 22], [1], [21]].map((r) => Uint8Array.from(r)), { interlace: true }))),
    { ...code('IO'), message: /image data holds 11 bytes, 3×3 pixels need 15/ }, 'interlaced, one pass short');
});

t.test('bad files and tensors give HgcError naming the file', async (t) => {
  const missing = path.join(tmp, 'missing.png');
  t.throws(() => readPng(missing), { ...code('IO'), message: /missing\.png: cannot read/ });
  t.throws(() => readMaskPng(missing), { ...code('IO'), message: /missing\.png/ });
  const text = tmpFile('hello, not an image', '.png');
  t.throws(() => readPng(text), { ...code('IO'), message: new RegExp(`${path.basename(text)}: not a PNG`) });
  t.throws(() => readPng(tmpFile(Buffer.alloc(0))), { ...code('IO'), message: /not a PNG/ });
  t.throws(() => readPng(tmp), { ...code('IO'), message: /cannot read/ }, 'a folder');

  const good = fs.readFileSync(path.join(EVAL, 'case_000_mask.png'));
  const truncated = tmpFile(good.subarray(0, Math.floor(good.length / 2)));
  t.throws(() => readPng(truncated), { ...code('IO'), message: new RegExp(`${path.basename(truncated)}: corrupt PNG`) });
  const flipped = Buffer.from(good);
  flipped[flipped.length - 20] ^= 0xff;  // inside the last IDAT: a CRC error
  t.throws(() => readMaskPng(tmpFile(flipped)), { ...code('IO'), message: /corrupt PNG/ });
  const badZ = makePng(2, 2, 8, 0, [Uint8Array.from([1, 2]), Uint8Array.from([3, 4])]);
  t.throws(() => readPng(tmpFile(makePng(4, 4, 8, 0, [Uint8Array.from([1, 2])]))), { ...code('IO'), message: /corrupt PNG/ }, 'too little data');
  t.ok(readPng(tmpFile(badZ)), 'control: a well-formed hand-made PNG reads');
  t.throws(() => readPng(tmpFile(makePng(1, 1, 8, 2, [Uint8Array.from([1, 2, 3])]).subarray(0, 20))), { ...code('IO'), message: /corrupt PNG/ });
  t.throws(() => readPng(''), code('ARG'));
  t.throws(() => readPng(tmpFile(makePng(1, 1, 3, 0, [Uint8Array.from([0])]))), { ...code('IO'), message: /corrupt PNG/ });
  const noIdat = makePng(1, 1, 8, 0, [Uint8Array.from([0])]);
  const withoutIdat = Buffer.concat([noIdat.subarray(0, 33), noIdat.subarray(noIdat.length - 12)]);
  t.throws(() => readPng(tmpFile(withoutIdat)), { ...code('IO'), message: /no image data/ });
  const notIhdr = Buffer.from(noIdat);
  notIhdr.write('IHDX', 12, 'latin1');
  t.throws(() => readPng(tmpFile(notIhdr)), { ...code('IO'), message: /first chunk is not a 13-byte IHDR/ });
  const garbageZ = Buffer.from(noIdat);
  garbageZ.fill(0xee, 41, 45);
  t.throws(() => readPng(tmpFile(garbageZ)), { ...code('IO'), message: /corrupt PNG/ });

  const out = path.join(tmp, 'out.png');
  t.throws(() => writePng(out, tensor(new Float32Array(4 * 4), [1, 4, 2, 2])), { ...code('SHAPE'), message: /out\.png.*\[1, 4, 2, 2\]/ });
  t.throws(() => writePng(out, tensor(new Float32Array(2 * 3 * 4), [2, 3, 2, 2])), { ...code('SHAPE'), message: /out\.png/ });
  t.throws(() => writePng(out, tensor(new Float32Array(0), [1, 3, 0, 2])), code('SHAPE'));
  t.throws(() => toUint8(tensor(new Float32Array(4), [2, 2])), code('SHAPE'));
  t.throws(() => writePng(out, zeros([1, 3, 2, 2], { device: 'meta' })), { ...code('DEVICE'), message: /out\.png/ });
  t.notOk(fs.existsSync(out), 'nothing written');
  const img = tensor(new Float32Array(12).fill(0.5), [1, 3, 2, 2]);
  t.throws(() => writePng(path.join(tmp, 'no/such/dir/x.png'), img), { ...code('IO'), message: /no\/such\/dir\/x\.png: cannot write/ });
  t.throws(() => writeRgbPng(out, { data: new Uint8Array(5), width: 2, height: 1 }), code('SHAPE'));
  t.throws(() => writePng('', img), code('ARG'));
  img.dispose();
});
