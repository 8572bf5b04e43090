// Model checkpoints: diffusers folders (single file, fp16 variant, sharded index, pipeline root) and original
// single-file (LDM / ControlNet 1.1) checkpoints, at full SD1.5 size on the meta device (sparse synthetic files)
// and with real data on a tiny model, plus malformed folders and checkpoints that must fail with HgcError('IO').
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { type Tensor, memory, models } from '../dist/src/index.js';
import {
  LDM_CONTROLNET_PREFIX, LDM_UNET_PREFIX, ldmToDiffusersControlNet, ldmToDiffusersUNet, loadControlNetFromSingleFile,
  loadUNetFromSingleFile,
} from '../dist/src/io/ldm-keys.js';
import { LazyTensorSource, loadControlNet, loadUNet, loadWeightsInto, openModelFolderWeights } from '../dist/src/io/model-folder.js';
import { SafetensorsFile, loadSafetensors, writeSafetensors } from '../dist/src/io/safetensors.js';
import { testDevices } from './helpers/reference';

const code = (c: string, message?: RegExp) => ({ name: 'HgcError', code: c, ...(message ? { message } : {}) });
const fixtures = path.resolve(__dirname, '../../shared/fixtures/golden');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-checkpoints-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8')) as Record<string, unknown>;
const tinyUNetConfig = readJson(path.join(fixtures, 'unet-tiny/config.json'));
const tinyControlNetConfig = readJson(path.join(fixtures, 'controlnet-tiny/config.json'));

let counter = 0;
function dir(name: string): string {
  const d = path.join(tmp, `${name}-${counter++}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

type Spec = { name: string; shape: readonly number[]; dtype?: string };
const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

/**
 * A safetensors file with real names, shapes and offsets whose data area is a hole (ftruncate): full-size
 * models cost a few hundred kB of header and no data blocks. Returns the data size.
 */
function writeSparse(file: string, specs: Spec[], dtype = 'F32'): number {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const s of specs) {
    const d = s.dtype ?? dtype;
    const bytes = s.shape.reduce((a, b) => a * b, 1) * BYTES[d]!;
    header[s.name] = { dtype: d, shape: s.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length), 0);
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, len);
    fs.writeSync(fd, Buffer.from(json, 'utf8'));
    fs.ftruncateSync(fd, 8 + json.length + offset);
  } finally {
    fs.closeSync(fd);
  }
  return offset;
}

const specsOf = (m: { namedParameters(): [string, { shape: readonly number[] }][] }): Spec[] =>
  m.namedParameters().map(([name, p]) => ({ name, shape: p.shape }));

/** Counts tensor data reads (SafetensorsFile.readRaw, which load() uses) while `fn` runs. */
function countReads<T>(fn: () => T): { result: T; reads: number } {
  const proto = SafetensorsFile.prototype as unknown as { readRaw: (name: string) => Buffer };
  const original = proto.readRaw;
  let reads = 0;
  proto.readRaw = function (this: unknown, name: string) {
    reads++;
    return original.call(this, name);
  };
  try {
    return { result: fn(), reads };
  } finally {
    proto.readRaw = original;
  }
}

/** Every parameter is set, on `device`, in `dtype`, with its declared shape. */
function assertLoaded(t: Tap.Test, m: { namedParameters(): [string, { shape: readonly number[]; tensor: Tensor | null }][] },
  device: string, dtype: string) {
  const bad = m.namedParameters().filter(([, p]) => !p.tensor || p.tensor.device !== device || p.tensor.dtype !== dtype ||
    p.tensor.shape.length !== p.shape.length || p.tensor.shape.some((d, i) => d !== p.shape[i]));
  t.same(bad.map(([n]) => n), [], `every parameter loaded (${device}, ${dtype}, declared shape)`);
}

/** Decoy tensors of the other components of a full SD checkpoint. */
const SD_EXTRAS: Spec[] = [
  { name: 'first_stage_model.encoder.conv_in.weight', shape: [128, 3, 3, 3] },
  { name: 'first_stage_model.decoder.conv_out.bias', shape: [3] },
  { name: 'cond_stage_model.transformer.text_model.embeddings.position_ids', shape: [1, 77], dtype: 'I64' },
  { name: 'cond_stage_model.transformer.text_model.final_layer_norm.weight', shape: [768] },
  { name: 'alphas_cumprod', shape: [1000] },
  { name: 'betas', shape: [1000] },
  { name: 'model_ema.decay', shape: [] },
  { name: 'model_ema.num_updates', shape: [], dtype: 'I32' },
];

t.test('SD1.5 key maps: a bijection onto the parameters, with the known correspondences', async (t) => {
  const unet = new models.UNet2DConditionModel(models.SD15_UNET_CONFIG);
  t.equal(unet.parameterCount(), 859_520_964, 'SD1.5 UNet parameter count');
  const map = ldmToDiffusersUNet();
  const params = unet.namedParameters().map(([n]) => n);
  t.equal(map.size, params.length);
  t.same([...map.values()].sort(), [...params].sort(), 'every parameter has exactly one original name');
  const expect: [string, string][] = [
    ['time_embed.0.weight', 'time_embedding.linear_1.weight'],
    ['time_embed.2.bias', 'time_embedding.linear_2.bias'],
    ['input_blocks.0.0.weight', 'conv_in.weight'],
    ['input_blocks.1.0.in_layers.0.weight', 'down_blocks.0.resnets.0.norm1.weight'],
    ['input_blocks.1.0.in_layers.2.bias', 'down_blocks.0.resnets.0.conv1.bias'],
    ['input_blocks.1.0.emb_layers.1.weight', 'down_blocks.0.resnets.0.time_emb_proj.weight'],
    ['input_blocks.1.0.out_layers.0.bias', 'down_blocks.0.resnets.0.norm2.bias'],
    ['input_blocks.1.0.out_layers.3.weight', 'down_blocks.0.resnets.0.conv2.weight'],
    ['input_blocks.1.1.proj_in.weight', 'down_blocks.0.attentions.0.proj_in.weight'],
    ['input_blocks.2.1.transformer_blocks.0.attn1.to_q.weight', 'down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q.weight'],
    ['input_blocks.3.0.op.weight', 'down_blocks.0.downsamplers.0.conv.weight'],
    ['input_blocks.4.0.skip_connection.weight', 'down_blocks.1.resnets.0.conv_shortcut.weight'],
    ['input_blocks.9.0.op.bias', 'down_blocks.2.downsamplers.0.conv.bias'],
    ['input_blocks.11.0.out_layers.3.weight', 'down_blocks.3.resnets.1.conv2.weight'],
    ['middle_block.0.in_layers.0.weight', 'mid_block.resnets.0.norm1.weight'],
    ['middle_block.1.transformer_blocks.0.attn2.to_k.weight', 'mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight'],
    ['middle_block.2.emb_layers.1.bias', 'mid_block.resnets.1.time_emb_proj.bias'],
    ['output_blocks.0.0.skip_connection.weight', 'up_blocks.0.resnets.0.conv_shortcut.weight'],
    ['output_blocks.2.1.conv.weight', 'up_blocks.0.upsamplers.0.conv.weight'],
    ['output_blocks.3.1.norm.weight', 'up_blocks.1.attentions.0.norm.weight'],
    ['output_blocks.5.2.conv.bias', 'up_blocks.1.upsamplers.0.conv.bias'],
    ['output_blocks.8.2.conv.weight', 'up_blocks.2.upsamplers.0.conv.weight'],
    ['output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight', 'up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight'],
    ['output_blocks.11.1.proj_out.bias', 'up_blocks.3.attentions.2.proj_out.bias'],
    ['out.0.weight', 'conv_norm_out.weight'],
    ['out.2.bias', 'conv_out.bias'],
  ];
  for (const [ldm, diffusers] of expect) t.equal(map.get(LDM_UNET_PREFIX + ldm), diffusers, ldm);
  t.notOk([...map.keys()].some((k) => k.startsWith(`${LDM_UNET_PREFIX}output_blocks.11.2`)), 'no upsampler on the last level');
  t.equal(ldmToDiffusersUNet(models.SD15_UNET_CONFIG, { prefix: '' }).get('out.2.weight'), 'conv_out.weight', 'prefix option');

  const cn = new models.ControlNetModel(models.SD15_CONTROLNET_CONFIG);
  const cmap = ldmToDiffusersControlNet();
  t.equal(cmap.size, cn.namedParameters().length);
  t.same([...cmap.values()].sort(), cn.namedParameters().map(([n]) => n).sort());
  const cexpect: [string, string][] = [
    ['input_hint_block.0.weight', 'controlnet_cond_embedding.conv_in.weight'],
    ['input_hint_block.2.bias', 'controlnet_cond_embedding.blocks.0.bias'],
    ['input_hint_block.12.weight', 'controlnet_cond_embedding.blocks.5.weight'],
    ['input_hint_block.14.weight', 'controlnet_cond_embedding.conv_out.weight'],
    ['zero_convs.0.0.weight', 'controlnet_down_blocks.0.weight'],
    ['zero_convs.11.0.bias', 'controlnet_down_blocks.11.bias'],
    ['middle_block_out.0.weight', 'controlnet_mid_block.weight'],
    ['input_blocks.7.1.proj_in.weight', 'down_blocks.2.attentions.0.proj_in.weight'],
    ['middle_block.1.proj_out.weight', 'mid_block.attentions.0.proj_out.weight'],
    ['time_embed.0.bias', 'time_embedding.linear_1.bias'],
  ];
  for (const [ldm, diffusers] of cexpect) t.equal(cmap.get(LDM_CONTROLNET_PREFIX + ldm), diffusers, ldm);
  t.equal(cn.controlnet_down_blocks.length, 12);
});

t.test('full-size SD1.5 UNet on the meta device from sparse files: every layout, no data read', async (t) => {
  const unet = new models.UNet2DConditionModel(models.SD15_UNET_CONFIG);
  const specs = specsOf(unet);
  const total = specs.reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1), 0);
  t.equal(total, 859_520_964);
  const config = { _class_name: 'UNet2DConditionModel', ...models.SD15_UNET_CONFIG };

  // diffusers folder, f32 single file (3.4 GB of holes)
  const plain = dir('sd15-unet');
  fs.writeFileSync(path.join(plain, 'config.json'), JSON.stringify(config));
  t.equal(writeSparse(path.join(plain, 'diffusion_pytorch_model.safetensors'), specs), total * 4);
  t.ok(fs.statSync(path.join(plain, 'diffusion_pytorch_model.safetensors')).blocks * 512 < 16 << 20, 'the file is sparse');
  const a = countReads(() => loadUNet(plain, { device: 'meta' }));
  t.equal(a.reads, 0, 'meta loading reads no tensor data');
  assertLoaded(t, a.result, 'meta', 'f32');
  a.result.dispose();

  // fp16 variant (auto-detected: only it exists), 2-shard index, pipeline root
  const root = dir('sd15-pipeline');
  fs.writeFileSync(path.join(root, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'] }));
  const u = path.join(root, 'unet');
  fs.mkdirSync(u);
  fs.writeFileSync(path.join(u, 'config.json'), JSON.stringify(config));
  writeSparse(path.join(u, 'diffusion_pytorch_model.fp16.safetensors'), specs, 'F16');
  const b = countReads(() => loadUNet(root, { device: 'meta', dtype: 'f16' }));
  t.equal(b.reads, 0);
  assertLoaded(t, b.result, 'meta', 'f16');
  b.result.dispose();

  const sharded = dir('sd15-sharded');
  fs.writeFileSync(path.join(sharded, 'config.json'), JSON.stringify(config));
  const half = Math.floor(specs.length / 2);
  const shards = ['diffusion_pytorch_model-00001-of-00002.safetensors', 'diffusion_pytorch_model-00002-of-00002.safetensors'];
  writeSparse(path.join(sharded, shards[0]!), specs.slice(0, half));
  writeSparse(path.join(sharded, shards[1]!), specs.slice(half));
  const weightMap = Object.fromEntries(specs.map((s, i) => [s.name, shards[i < half ? 0 : 1]]));
  fs.writeFileSync(path.join(sharded, 'diffusion_pytorch_model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: total * 4 }, weight_map: weightMap }));
  const c = countReads(() => loadUNet(sharded, { device: 'meta' }));
  t.equal(c.reads, 0);
  assertLoaded(t, c.result, 'meta', 'f32');
  c.result.dispose();

  // original single-file SD1.5 checkpoint (f16, with VAE / text encoder / schedule / EMA decoys)
  const map = ldmToDiffusersUNet();
  const back = new Map([...map].map(([k, v]) => [v, k]));
  const ckpt = path.join(dir('sd15-ldm'), 'v1-5-pruned-emaonly.safetensors');
  writeSparse(ckpt, [...SD_EXTRAS, ...specs.map((s) => ({ name: back.get(s.name)!, shape: s.shape }))], 'F16');
  const d = countReads(() => loadUNetFromSingleFile(ckpt, { device: 'meta' }));
  t.equal(d.reads, 0);
  assertLoaded(t, d.result, 'meta', 'f32');
  d.result.dispose();
});

t.test('full-size SD1.5 ControlNet on the meta device: diffusers folder and ControlNet 1.1 file', async (t) => {
  const cn = new models.ControlNetModel(models.SD15_CONTROLNET_CONFIG);
  const specs = specsOf(cn);
  const folder = dir('sd15-controlnet');
  fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ _class_name: 'ControlNetModel', ...models.SD15_CONTROLNET_CONFIG }));
  writeSparse(path.join(folder, 'diffusion_pytorch_model.safetensors'), specs);
  const a = countReads(() => loadControlNet(folder, { device: 'meta' }));
  t.equal(a.reads, 0);
  assertLoaded(t, a.result, 'meta', 'f32');
  a.result.dispose();

  const back = new Map([...ldmToDiffusersControlNet()].map(([k, v]) => [v, k]));
  const file = path.join(dir('sd15-cn11'), 'control_v11p_sd15_canny.safetensors');
  writeSparse(file, specs.map((s) => ({ name: back.get(s.name)!, shape: s.shape })), 'F16');
  const b = countReads(() => loadControlNetFromSingleFile(file, { device: 'meta' }));
  t.equal(b.reads, 0);
  assertLoaded(t, b.result, 'meta', 'f32');
  b.result.dispose();

  // ControlNet 1.0 style: a whole SD model bundled with the control model; only control_model.* is taken.
  const unetBack = new Map([...ldmToDiffusersUNet()].map(([k, v]) => [v, k]));
  const bundled = path.join(dir('sd15-cn10'), 'control_sd15_canny.safetensors');
  writeSparse(bundled, [...SD_EXTRAS, ...specs.map((s) => ({ name: back.get(s.name)!, shape: s.shape })),
    ...specsOf(new models.UNet2DConditionModel(models.SD15_UNET_CONFIG)).map((s) => ({ name: unetBack.get(s.name)!, shape: s.shape }))], 'F16');
  const c = loadControlNetFromSingleFile(bundled, { device: 'meta' });
  assertLoaded(t, c, 'meta', 'f32');
  c.dispose();
  const d = loadUNetFromSingleFile(bundled, { device: 'meta' });
  assertLoaded(t, d, 'meta', 'f32');
  d.dispose();
});

/** name → tensor of a module's parameters. */
function params(m: { namedParameters(): [string, { tensor: Tensor | null }][] }): Record<string, Tensor> {
  return Object.fromEntries(m.namedParameters().map(([n, p]) => [n, p.tensor!]));
}

/** Names of parameters of `got` whose values differ from `want` (after `expect`, e.g. f16 rounding). */
function differing(got: Record<string, Tensor>, want: Record<string, Tensor>, expect: (t: Tensor) => Float32Array = (x) => x.toFloat32()): string[] {
  const out: string[] = [];
  for (const [name, w] of Object.entries(want)) {
    const g = got[name];
    if (!g) { out.push(`${name} (absent)`); continue; }
    const a = g.toFloat32(), b = expect(w);
    if (a.length !== b.length || a.some((v, i) => !Object.is(v, b[i]))) out.push(name);
  }
  return out;
}

t.test('tiny UNet round trips: diffusers file, 2 shards, fp16 variant, pipeline root, original layout', async (t) => {
  const live0 = memory().liveTensors;
  const ref = new models.UNet2DConditionModel(tinyUNetConfig).initRandom({ seed: 11 });
  const want = params(ref);
  const names = Object.keys(want);
  const config = JSON.stringify(tinyUNetConfig);

  const plain = dir('tiny-plain');
  fs.writeFileSync(path.join(plain, 'config.json'), config);
  writeSafetensors(path.join(plain, 'diffusion_pytorch_model.safetensors'), want, { format: 'pt' });
  const { result: a, reads } = countReads(() => loadUNet(plain));
  t.equal(reads, names.length, 'each tensor is read exactly once');
  t.same(differing(params(a), want), [], 'diffusers single file: identical');
  assertLoaded(t, a, 'cpu', 'f32');
  a.dispose();

  const sharded = dir('tiny-sharded');
  fs.writeFileSync(path.join(sharded, 'config.json'), config);
  const shard = (i: number) => `diffusion_pytorch_model-0000${i + 1}-of-00002.safetensors`;
  const half = Math.ceil(names.length / 2);
  writeSafetensors(path.join(sharded, shard(0)), Object.fromEntries(names.slice(0, half).map((n) => [n, want[n]!])));
  writeSafetensors(path.join(sharded, shard(1)), Object.fromEntries(names.slice(half).map((n) => [n, want[n]!])));
  fs.writeFileSync(path.join(sharded, 'diffusion_pytorch_model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: Object.fromEntries(names.map((n, i) => [n, shard(i < half ? 0 : 1)])) }));
  const b = loadUNet(sharded);
  t.same(differing(params(b), want), [], 'sharded: identical');
  b.dispose();

  const fp16 = dir('tiny-fp16');
  fs.writeFileSync(path.join(fp16, 'config.json'), config);
  const half16 = Object.fromEntries(names.map((n) => [n, want[n]!.cast('f16')]));
  writeSafetensors(path.join(fp16, 'diffusion_pytorch_model.fp16.safetensors'), half16);
  const viaF16 = (x: Tensor) => { const h = x.cast('f16'); try { return h.toFloat32(); } finally { h.dispose(); } };
  const c = loadUNet(fp16);
  t.same(differing(params(c), want, viaF16), [], 'fp16 variant (auto-detected) → f32: equal to the f16-rounded weights');
  const w = want['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight']!.toFloat32();
  const g = params(c)['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight']!.toFloat32();
  t.ok(g.every((v, i) => Math.abs(v - w[i]!) <= Math.abs(w[i]!) * 2 ** -11 + 2 ** -24), 'within f16 rounding of the originals');
  c.dispose();
  const c16 = loadUNet(fp16, { variant: 'fp16', dtype: 'f16' });
  assertLoaded(t, c16, 'cpu', 'f16');
  t.same(differing(params(c16), half16), [], 'fp16 kept as f16: bit-identical');
  c16.dispose();

  // both plain and fp16 files: the plain one by default, the variant on request
  const both = dir('tiny-both');
  fs.writeFileSync(path.join(both, 'config.json'), config);
  writeSafetensors(path.join(both, 'diffusion_pytorch_model.safetensors'), want);
  writeSafetensors(path.join(both, 'diffusion_pytorch_model.fp16.safetensors'), half16);
  const d1 = loadUNet(both), d2 = loadUNet(both, { variant: 'fp16' });
  t.same(differing(params(d1), want), []);
  t.same(differing(params(d2), want, viaF16), []);
  d1.dispose();
  d2.dispose();

  // sharded fp16 variant, diffusers' index name
  const sh16 = dir('tiny-sharded-fp16');
  fs.writeFileSync(path.join(sh16, 'config.json'), config);
  const shard16 = (i: number) => `diffusion_pytorch_model.fp16-0000${i + 1}-of-00002.safetensors`;
  writeSafetensors(path.join(sh16, shard16(0)), Object.fromEntries(names.slice(0, half).map((n) => [n, half16[n]!])));
  writeSafetensors(path.join(sh16, shard16(1)), Object.fromEntries(names.slice(half).map((n) => [n, half16[n]!])));
  fs.writeFileSync(path.join(sh16, 'diffusion_pytorch_model.safetensors.index.fp16.json'),
    JSON.stringify({ weight_map: Object.fromEntries(names.map((n, i) => [n, shard16(i < half ? 0 : 1)])) }));
  const e = loadUNet(sh16, { variant: 'fp16' });
  t.same(differing(params(e), want, viaF16), [], 'sharded fp16 variant');
  e.dispose();
  for (const x of Object.values(half16)) x.dispose();

  const root = dir('tiny-pipeline');
  fs.writeFileSync(path.join(root, 'model_index.json'), '{"_class_name": "StableDiffusionPipeline"}');
  fs.mkdirSync(path.join(root, 'unet'));
  fs.writeFileSync(path.join(root, 'unet', 'config.json'), config);
  writeSafetensors(path.join(root, 'unet', 'diffusion_pytorch_model.safetensors'), want);
  const f = loadUNet(root);
  t.same(differing(params(f), want), [], 'pipeline root → unet/');
  f.dispose();

  // original layout through the key map, with decoys of other components
  const map = ldmToDiffusersUNet(tinyUNetConfig);
  t.equal(map.get(`${LDM_UNET_PREFIX}output_blocks.2.1.conv.weight`), 'up_blocks.0.upsamplers.0.conv.weight', 'tiny: UpBlock2D upsampler at .1');
  t.equal(map.get(`${LDM_UNET_PREFIX}input_blocks.4.0.in_layers.0.weight`), 'down_blocks.1.resnets.0.norm1.weight');
  t.notOk([...map.keys()].some((k) => k.startsWith(`${LDM_UNET_PREFIX}input_blocks.4.1.`)), 'no attention where the config has none');
  const original: Record<string, Tensor> = {};
  for (const [ldm, diffusers] of map) original[ldm] = want[diffusers]!;
  const decoy = ref.conv_in.namedParameters()[0]![1].tensor!;
  original['first_stage_model.decoder.conv_in.weight'] = decoy;
  original['cond_stage_model.transformer.text_model.final_layer_norm.weight'] = want['conv_norm_out.weight']!;
  original['model_ema.decay'] = want['conv_out.bias']!;
  const ckpt = path.join(dir('tiny-ldm'), 'model.safetensors');
  writeSafetensors(ckpt, original);
  const h = loadUNetFromSingleFile(ckpt, { config: tinyUNetConfig });
  t.same(differing(params(h), want), [], 'original layout: identical');
  h.dispose();

  // the same without prefix (a UNet-only original checkpoint)
  const bare = path.join(dir('tiny-ldm-bare'), 'unet.safetensors');
  writeSafetensors(bare, Object.fromEntries([...map].map(([ldm, diffusers]) => [ldm.slice(LDM_UNET_PREFIX.length), want[diffusers]!])));
  const i = loadUNetFromSingleFile(bare, { config: tinyUNetConfig, dtype: 'bf16' });
  assertLoaded(t, i, 'cpu', 'bf16');
  i.dispose();

  ref.dispose();
  t.equal(memory().liveTensors, live0, 'no tensor left behind by the loaders');
});

t.test('loading to each device matches the reference', async (t) => {
  const ref = new models.UNet2DConditionModel(tinyUNetConfig).initRandom({ seed: 3 });
  const folder = dir('tiny-devices');
  fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify(tinyUNetConfig));
  writeSafetensors(path.join(folder, 'diffusion_pytorch_model.safetensors'), params(ref));
  for (const device of testDevices('cast')) {
    const m = loadUNet(folder, { device: device as 'cpu' });
    assertLoaded(t, m, device, 'f32');
    t.same(differing(params(m), params(ref)), [], `${device}: identical`);
    m.dispose();
  }
  ref.dispose();
});

t.test('tiny ControlNet: the diffusers fixture folder and its original-layout copy', async (t) => {
  const folder = path.join(fixtures, 'controlnet-tiny');
  const want = loadSafetensors(path.join(folder, 'diffusion_pytorch_model.safetensors'));
  const wantObj = Object.fromEntries(want);
  const a = loadControlNet(folder);
  t.same(differing(params(a), wantObj), [], 'loadControlNet(fixture) equals the file');
  t.equal(Object.keys(params(a)).length, want.size);
  a.dispose();

  const map = ldmToDiffusersControlNet(tinyControlNetConfig);
  t.equal(map.get(`${LDM_CONTROLNET_PREFIX}input_hint_block.14.weight`), 'controlnet_cond_embedding.conv_out.weight');
  t.equal(map.get(`${LDM_CONTROLNET_PREFIX}zero_convs.5.0.weight`), 'controlnet_down_blocks.5.weight');
  t.equal(map.size, want.size);
  const orig = path.join(dir('tiny-cn-ldm'), 'control.safetensors');
  writeSafetensors(orig, {
    ...Object.fromEntries([...map].map(([ldm, diffusers]) => [ldm, want.get(diffusers)!])),
    'model.diffusion_model.input_blocks.0.0.weight': want.get('conv_in.weight')!,
  });
  const b = loadControlNetFromSingleFile(orig, { config: tinyControlNetConfig });
  t.same(differing(params(b), wantObj), [], 'original layout: identical');
  b.dispose();

  const unetFixture = loadUNet(path.join(fixtures, 'unet-tiny'));
  const unetWant = loadSafetensors(path.join(fixtures, 'unet-tiny/diffusion_pytorch_model.safetensors'));
  t.same(differing(params(unetFixture), Object.fromEntries(unetWant)), [], 'loadUNet(unet-tiny fixture) equals the file');
  unetFixture.dispose();
  for (const x of [...want.values(), ...unetWant.values()]) x.dispose();
});

t.test('the lazy source: one tensor at a time, released, and usable with loadStateDict directly', async (t) => {
  const folder = path.join(fixtures, 'unet-tiny');
  const src = openModelFolderWeights(folder);
  t.ok(src instanceof LazyTensorSource);
  t.equal(src.size, 304);
  t.same(src.info('conv_in.weight')?.shape, [32, 4, 3, 3]);
  t.equal(src.info('nope'), undefined);
  t.equal(src.get('nope'), undefined);
  const live0 = memory().liveTensors;
  const x = src.get('conv_in.weight')!;
  t.equal(src.get('conv_in.weight'), x, 'the same tensor while it is current');
  t.equal(memory().liveTensors, live0 + 1);
  src.get('conv_in.bias');
  t.equal(memory().liveTensors, live0 + 1, 'the previous tensor is released');
  t.throws(() => x.toFloat32(), code('DISPOSED'));
  const m = new models.UNet2DConditionModel(readJson(path.join(folder, 'config.json')));
  const report = m.loadStateDict(src);
  t.same(report, { missing: [], unexpected: [], mismatched: [] }, 'plain loadStateDict(source) works too');
  src.close();
  src.close();
  t.equal(memory().liveTensors, live0 + m.namedParameters().length);
  t.throws(() => src.get('conv_in.weight'), code('IO', /closed/));
  m.dispose();

  // non-strict: what fits is loaded, the report says what did not
  const partial = dir('tiny-partial');
  fs.copyFileSync(path.join(folder, 'config.json'), path.join(partial, 'config.json'));
  const all = loadSafetensors(path.join(folder, 'diffusion_pytorch_model.safetensors'));
  const some = Object.fromEntries([...all].filter(([n]) => n !== 'conv_out.bias'));
  some['extra.weight'] = all.get('conv_out.bias')!;
  writeSafetensors(path.join(partial, 'diffusion_pytorch_model.safetensors'), some);
  const s2 = openModelFolderWeights(partial);
  const m2 = new models.UNet2DConditionModel(readJson(path.join(folder, 'config.json')));
  const r2 = loadWeightsInto(m2, s2, { strict: false });
  s2.close();
  t.same(r2.missing, ['conv_out.bias']);
  t.same(r2.unexpected, ['extra.weight']);
  t.equal(m2.namedParameters().filter(([, p]) => p.tensor !== null).length, m2.namedParameters().length - 1);
  m2.dispose();
  const m3 = loadUNet(partial, { strict: false });
  m3.dispose();
  for (const v of all.values()) v.dispose();
});

t.test('bad folders and checkpoints fail with HgcError(IO) naming the problem', async (t) => {
  const ref = new models.UNet2DConditionModel(tinyUNetConfig).initRandom({ seed: 5 });
  const want = params(ref);
  const names = Object.keys(want);
  const config = JSON.stringify(tinyUNetConfig);
  const folder = (files: Record<string, string | Record<string, Tensor>>) => {
    const d = dir('bad');
    for (const [name, content] of Object.entries(files)) {
      const p = path.join(d, name);
      if (typeof content === 'string') fs.writeFileSync(p, content);
      else writeSafetensors(p, content);
    }
    return d;
  };
  const W = 'diffusion_pytorch_model.safetensors';
  const IDX = 'diffusion_pytorch_model.safetensors.index.json';
  const live0 = memory().liveTensors;

  t.throws(() => loadUNet(folder({ [W]: want })), code('IO', /config\.json is missing/));
  t.throws(() => loadUNet(path.join(tmp, 'no-such-folder')), code('IO', /does not exist/));
  t.throws(() => loadUNet(folder({ 'config.json': '{nope', [W]: want })), code('IO', /config\.json: not valid JSON/));
  t.throws(() => loadUNet(folder({ 'config.json': '[1]', [W]: want })), code('IO', /config\.json: must be a JSON object/));
  t.throws(() => loadUNet(path.join(fixtures, 'controlnet-tiny')), code('IO', /ControlNetModel, not a UNet2DConditionModel/));
  t.throws(() => loadUNet(folder({ 'config.json': config })), code('IO', /no weights found/));
  t.throws(() => loadUNet(folder({ 'config.json': config, 'diffusion_pytorch_model.bin': 'x' })), code('IO', /only safetensors/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [W]: want }), { variant: 'fp16' }), code('IO', /variant "fp16"/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [W]: want }), { variant: '../x' }), code('ARG'));
  t.throws(() => loadUNet(folder({ 'model_index.json': '{}' })), code('IO', /no unet\/config\.json/));

  const shardA = Object.fromEntries(names.map((n) => [n, 'a.safetensors']));
  t.throws(() => loadUNet(folder({ 'config.json': config, 'a.safetensors': want, [IDX]: '{"weight_map": ' })), code('IO', /index\.json: not valid JSON/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: '{"weight_map": ["a"]}' })), code('IO', /weight_map must be an object/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: '{}' })), code('IO', /weight_map must be an object/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: '[]' })), code('IO', /JSON object/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: '{"weight_map": {}}' })), code('IO', /empty/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: '{"weight_map": {"conv_in.weight": 3}}' })), code('IO', /conv_in\.weight.*shard file name/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: JSON.stringify({ weight_map: { ...shardA, 'conv_in.weight': 'b.safetensors' } }), 'a.safetensors': want })),
    code('IO', /shard b\.safetensors is missing/));
  for (const evil of ['../a.safetensors', 'sub/a.safetensors', '..', '/etc/passwd', 'a\\b.safetensors']) {
    t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: JSON.stringify({ weight_map: { ...shardA, 'conv_in.weight': evil } }), 'a.safetensors': want })),
      code('IO', /must be a file name in the folder/), `shard name ${evil}`);
  }
  const lacking = Object.fromEntries(names.filter((n) => n !== 'conv_in.bias').map((n) => [n, want[n]!]));
  t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: JSON.stringify({ weight_map: shardA }), 'a.safetensors': lacking })),
    code('IO', /"conv_in\.bias" should be in shard a\.safetensors/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [IDX]: JSON.stringify({ weight_map: shardA }), 'a.safetensors': 'garbage' })),
    code('IO', /a\.safetensors/), 'a corrupt shard is named');

  // keys that do not fit: named, before any data is read
  t.throws(() => loadUNet(folder({ 'config.json': config, [W]: lacking })), code('IO', /missing 1: conv_in\.bias/));
  const reshaped = { ...want, 'conv_in.bias': want['conv_out.bias']! };
  t.throws(() => loadUNet(folder({ 'config.json': config, [W]: reshaped })), code('IO', /conv_in\.bias expected \[32\] got \[4\]/));
  t.throws(() => loadUNet(folder({ 'config.json': config, [W]: { ...want, 'foo.weight': want['conv_in.bias']! } })), code('IO', /unexpected 1: foo\.weight/));

  // original layout missing keys: named by original and diffusers name
  const map = ldmToDiffusersUNet(tinyUNetConfig);
  const full = Object.fromEntries([...map].map(([ldm, d]) => [ldm, want[d]!]));
  const dropped = `${LDM_UNET_PREFIX}input_blocks.1.0.in_layers.0.weight`;
  const { [dropped]: _gone, [`${LDM_UNET_PREFIX}out.2.bias`]: _gone2, ...rest } = full;
  void _gone; void _gone2;
  const ckpt = path.join(dir('bad-ldm'), 'model.safetensors');
  writeSafetensors(ckpt, { ...rest, [`${LDM_UNET_PREFIX}label_emb.0.0.weight`]: want['conv_in.bias']! });
  const err = (() => { try { loadUNetFromSingleFile(ckpt, { config: tinyUNetConfig }); return null; } catch (e) { return e as Error & { code: string }; } })();
  t.equal(err?.code, 'IO');
  t.match(err?.message, /missing 2/);
  t.match(err?.message, `${dropped} (down_blocks.0.resnets.0.norm1.weight)`);
  t.match(err?.message, `${LDM_UNET_PREFIX}out.2.bias (conv_out.bias)`);
  t.match(err?.message, `unexpected 1: ${LDM_UNET_PREFIX}label_emb.0.0.weight`);
  t.match(err?.message, ckpt, 'the file is named');
  const vaeOnly = path.join(dir('bad-vae'), 'vae.safetensors');
  writeSafetensors(vaeOnly, { 'first_stage_model.encoder.conv_in.bias': want['conv_in.bias']! });
  t.throws(() => loadUNetFromSingleFile(vaeOnly, { config: tinyUNetConfig, prefix: LDM_UNET_PREFIX }), code('IO', /no UNet tensors/));
  t.throws(() => loadControlNetFromSingleFile(ckpt, { config: tinyControlNetConfig }), code('IO', /does not fit the model/),
    'a UNet checkpoint is no ControlNet');

  // integer tensors under a parameter name
  const intDir = folder({ 'config.json': config });
  writeSparse(path.join(intDir, W), specsOf(ref).map((s) => (s.name === 'conv_in.bias' ? { ...s, dtype: 'I32' } : s)));
  t.throws(() => loadUNet(intDir), code('IO', /conv_in\.bias \(I32 in/));
  const intLdm = path.join(dir('bad-int-ldm'), 'model.safetensors');
  writeSparse(intLdm, [...map].map(([ldm, d]) => ({ name: ldm.slice(LDM_UNET_PREFIX.length), shape: want[d]!.shape, dtype: d === 'conv_in.bias' ? 'I64' : 'F32' })));
  t.throws(() => loadUNetFromSingleFile(intLdm, { config: tinyUNetConfig, prefix: '' }), code('IO', /input_blocks\.0\.0\.bias \(conv_in\.bias\) \(I64 in/));
  t.equal(memory().liveTensors, live0, 'failed loads leave no tensors behind');
  ref.dispose();
});
