// CLIP tokenizer and CLIPTextModel against transformers' goldens (tokenizer_golden.json, clip-text-tiny).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { MacCounter, SafetensorsFile, type Tensor, countMacs, tensor } from '../dist/src/index.js';
import {
  ClipTextModel, SD15_CLIP_TEXT_CONFIG, loadClipTextModel, parseClipTextConfig,
} from '../dist/src/models/clip-text.js';
import { ClipTokenizer, normalizeClipText } from '../dist/src/text/clip-tokenizer.js';
import { FIXTURES, closeness, goldenPath, readJson } from './helpers/golden';
import { ALL_OPS, isSim, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });
const TOKENIZER_DIR = path.join(FIXTURES, 'clip-tokenizer');
const MODEL_DIR = goldenPath('clip-text-tiny');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-clip-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface GoldenPrompt {
  index: number;
  prompt: string;
  input_ids: number[];
  tokens_untruncated: string[];
  num_tokens_untruncated: number;
  truncated: boolean;
  openai_matches_hf?: boolean;
}

const tokGolden = readJson(goldenPath('clip-tokenizer', 'tokenizer_golden.json')) as unknown as { prompts: GoldenPrompt[] };

function floats(x: Tensor): Float32Array {
  try {
    return x.toFloat32();
  } finally {
    x.dispose();
  }
}

t.test('tokenizer: all 32 golden prompts (transformers slow CLIPTokenizer without ftfy)', async (t) => {
  const tok = ClipTokenizer.fromFolder(TOKENIZER_DIR);
  t.equal(tok.vocabSize, 49408);
  t.equal(tok.bosId, 49406);
  t.equal(tok.eosId, 49407);
  t.equal(tokGolden.prompts.length, 32);
  for (const p of tokGolden.prompts) {
    const label = `#${p.index} ${JSON.stringify(p.prompt).slice(0, 50)}`;
    const ids = tok.encode(p.prompt);
    t.same(ids, p.input_ids, `${label}: input_ids`);
    const tokens = tok.tokenize(p.prompt);
    t.same(tokens, p.tokens_untruncated.slice(1, -1), `${label}: BPE tokens (untruncated)`);
    t.equal(tokens.length + 2, p.num_tokens_untruncated, `${label}: token count`);
    t.equal(tokens.length > 75, p.truncated, `${label}: truncation flag`);
  }
  // The cache gives the same answers the second time.
  for (const p of tokGolden.prompts) t.same(tok.encode(p.prompt), p.input_ids);
  t.same(tok.encodeBatch(['', 'a']).map((r) => r.length), [77, 77]);
});

t.test('tokenizer: normalisation and edge cases', async (t) => {
  t.equal(normalizeClipText('  A\u00a0B\u200bC\tD\n東京 '), 'a bc d 東 京', 'ZWSP dropped, NBSP/tab/newline are spaces, CJK split');
  t.equal(normalizeClipText('cafe\u0301'), 'caf\u00e9');
  const tok = ClipTokenizer.fromFolder(TOKENIZER_DIR);
  // Upper-case special-token text is lowercased and still maps to the special id.
  t.same(tok.encode('a<|ENDOFTEXT|>b').slice(0, 5), [49406, 320, 49407, 321, 49407]);
  t.same(tok.tokenize(''), []);
  // A tiny hand-made vocabulary exercises the BPE merge order.
  const small = new ClipTokenizer({ 'a': 0, 'b': 1, 'ab</w>': 2, 'b</w>': 3, 'a</w>': 4, '<|startoftext|>': 5, '<|endoftext|>': 6 }, ['a b</w>'], { maxLength: 4 });
  t.same(small.tokenize('ab abb'), ['ab</w>', 'a', 'b', 'b</w>']);
  t.same(small.encode('ab abb'), [5, 2, 0, 6]);
});

t.test('tokenizer: bad inputs', async (t) => {
  t.throws(() => ClipTokenizer.fromFolder(path.join(tmp, 'nope')), code('IO'));
  const noMerges = path.join(tmp, 'no-merges');
  fs.mkdirSync(noMerges);
  fs.copyFileSync(path.join(TOKENIZER_DIR, 'vocab.json'), path.join(noMerges, 'vocab.json'));
  t.throws(() => ClipTokenizer.fromFolder(noMerges), code('IO'));
  const badJson = path.join(tmp, 'bad-json');
  fs.mkdirSync(badJson);
  fs.writeFileSync(path.join(badJson, 'vocab.json'), '{not json');
  fs.writeFileSync(path.join(badJson, 'merges.txt'), '#version: 0.2\n');
  t.throws(() => ClipTokenizer.fromFolder(badJson), code('IO'));
  fs.writeFileSync(path.join(badJson, 'vocab.json'), '{"a": 0}');
  t.throws(() => ClipTokenizer.fromFolder(badJson), code('IO'), 'no special tokens');
  fs.writeFileSync(path.join(badJson, 'vocab.json'), '[1, 2]');
  t.throws(() => ClipTokenizer.fromFolder(badJson), code('IO'), 'not an object');
  t.throws(() => ClipTokenizer.fromFolder(''), code('ARG'));
  const tok = ClipTokenizer.fromFolder(TOKENIZER_DIR);
  for (const bad of [undefined, null, 42, ['a'], { text: 'a' }]) {
    t.throws(() => tok.encode(bad as unknown as string), code('ARG'), `encode(${JSON.stringify(bad)})`);
    t.throws(() => tok.tokenize(bad as unknown as string), code('ARG'));
  }
  t.throws(() => tok.encodeBatch('a' as unknown as string[]), code('ARG'));
  t.throws(() => new ClipTokenizer({ '<|startoftext|>': 0, '<|endoftext|>': 1 }, ['a']), code('ARG'), 'malformed merge');
  t.throws(() => new ClipTokenizer({ '<|startoftext|>': 0, '<|endoftext|>': 1 }, [], { maxLength: 1 }), code('ARG'));
});

t.test('clip-text-tiny: goldens (last_hidden_state, pooler_output, hidden_states)', async (t) => {
  const golden = SafetensorsFile.open(goldenPath('clip-text-tiny', 'golden.safetensors'));
  t.teardown(() => golden.close());
  const ref = (k: string) => floats(golden.load(k));
  const idsTensor = golden.load('input.input_ids');
  const idsRows: number[][] = [];
  const flat = idsTensor.toFloat32();
  for (let b = 0; b < 3; b++) idsRows.push(Array.from(flat.subarray(b * 77, (b + 1) * 77)));
  // The ids are tokenizer goldens #0, #2 and #31.
  const tok = ClipTokenizer.fromFolder(TOKENIZER_DIR);
  const prompts = [0, 2, 31].map((i) => tokGolden.prompts[i]!.prompt);
  t.same(tok.encodeBatch(prompts), idsRows, 'ids equal the tokenizer output');

  for (const device of testDevices(...ALL_OPS).filter((d) => !isSim(d))) {  // whole models: too slow simulated
    const model = loadClipTextModel(MODEL_DIR, { device: device as 'cpu' | 'cuda' });
    t.equal(model.parameterCount(), 1600672);
    const check = (name: string, got: Tensor, key: string) => {
      const c = closeness(floats(got), ref(key));
      t.ok(c.ratio <= 1, `${device} ${name}: max abs diff ${c.maxAbs.toExponential(2)} (ratio ${c.ratio.toFixed(3)})`);
    };
    const out = model.forward(idsTensor, { outputHiddenStates: true });
    t.same(out.lastHiddenState.shape, [3, 77, 32]);
    t.same(out.pooled.shape, [3, 32]);
    t.equal(out.hiddenStates!.length, 3);
    check('last_hidden_state', out.lastHiddenState, 'output.last_hidden_state');
    check('pooler_output', out.pooled, 'output.pooler_output');
    out.hiddenStates!.forEach((h, k) => check(`hidden_states.${k}`, h, `output.hidden_states.${k}`));
    // number[][] input, without hidden states; a single row matches its batch row.
    const plain = model.forward(idsRows);
    t.equal(plain.hiddenStates, undefined);
    check('last_hidden_state (number[][])', plain.lastHiddenState, 'output.last_hidden_state');
    plain.pooled.dispose();
    const one = model.forward([idsRows[2]!]);
    const c = closeness(floats(one.lastHiddenState), ref('output.last_hidden_state').subarray(2 * 77 * 32));
    t.ok(c.ratio <= 1, `${device} single row`);
    one.pooled.dispose();
    model.dispose();
  }
  idsTensor.dispose();
});

t.test('clip-text: config, pooling rule, MACs, meta device, bad inputs', async (t) => {
  const json = readJson(path.join(MODEL_DIR, 'config.json'));
  const cfg = parseClipTextConfig(json);
  t.match(cfg, { vocabSize: 49408, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 64, hiddenAct: 'quick_gelu', eosTokenId: 2 });
  t.throws(() => parseClipTextConfig({ ...json, hidden_act: 'swish' }), code('ARG'));
  t.throws(() => parseClipTextConfig({ ...json, hidden_size: 30 }), code('ARG'));
  t.throws(() => parseClipTextConfig({ ...json, layer_norm_eps: -1 }), code('ARG'));
  t.equal(new ClipTextModel({ ...json, hidden_act: 'gelu' }).text_model.encoder.layers[0]!.mlp.activation, 'gelu');

  // Parameter names are transformers' own.
  const names = new ClipTextModel(cfg).namedParameters().map(([n]) => n);
  for (const n of ['text_model.embeddings.token_embedding.weight', 'text_model.embeddings.position_embedding.weight',
    'text_model.encoder.layers.1.self_attn.out_proj.bias', 'text_model.encoder.layers.0.mlp.fc2.weight',
    'text_model.encoder.layers.0.layer_norm2.weight', 'text_model.final_layer_norm.bias']) t.ok(names.includes(n), n);

  // eos_token_id other than 2: pooling at the first eos id (here 7), not at the largest id.
  const m = new ClipTextModel({ ...json, eos_token_id: 7, vocab_size: 16, max_position_embeddings: 8 }).initRandom({ seed: 3 });
  const ids = [[1, 15, 7, 3, 7, 0]];
  const out = m.forward(ids);
  const last = floats(out.lastHiddenState), pooled = floats(out.pooled);
  t.same(Array.from(pooled), Array.from(last.subarray(2 * 32, 3 * 32)), 'pooled at the first eos id');
  m.dispose();

  // MACs at SD1.5 size on the meta device, with module paths.
  const sd = new ClipTextModel(SD15_CLIP_TEXT_CONFIG).initMeta();
  const counter = new MacCounter();
  const { result } = countMacs(() => sd.forward([new Array<number>(77).fill(49407)]), counter);
  t.same(result.lastHiddenState.shape, [1, 77, 768]);
  t.same(result.pooled.shape, [1, 768]);
  const paths = new Set(counter.records.map((r) => r.path));
  t.ok(paths.has('text_model.encoder.layers.11.self_attn.q_proj'), 'q_proj path');
  t.ok(paths.has('text_model.encoder.layers.0.mlp.fc1'), 'fc1 path');
  t.ok(paths.has('text_model.final_layer_norm'), 'final LN path');
  // linear MACs: 12 layers × 77 tokens × (4·768² + 2·768·3072)
  const linear = counter.records.filter((r) => r.category === 'linear').reduce((s, r) => s + r.macs, 0);
  t.equal(linear, 12 * 77 * (4 * 768 * 768 + 2 * 768 * 3072));

  // Bad inputs.
  const tiny = loadClipTextModel(MODEL_DIR);
  t.throws(() => tiny.forward([[49406, 49408]]), code('ARG'), 'id out of vocabulary');
  t.throws(() => tiny.forward([[1.5]]), code('ARG'), 'non-integer id');
  t.throws(() => tiny.forward([[1, 2], [1]]), code('SHAPE'), 'ragged rows');
  t.throws(() => tiny.forward([]), code('SHAPE'), 'no rows');
  t.throws(() => tiny.forward([new Array<number>(78).fill(1)]), code('SHAPE'), 'longer than 77');
  t.throws(() => tiny.forward('a photo' as unknown as number[][]), code('ARG'));
  t.throws(() => tiny.forward(tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2])), code('SHAPE'));
  const one = tiny.forward(tensor([49406, 320, 49407], [3]));
  t.same(one.lastHiddenState.shape, [1, 3, 32]);
  one.lastHiddenState.dispose();
  one.pooled.dispose();
  tiny.dispose();
  t.throws(() => new ClipTextModel(cfg).forward([[1]]), code('ARG'), 'weights not loaded');

  t.throws(() => loadClipTextModel(path.join(tmp, 'missing')), code('IO'));
  const noWeights = path.join(tmp, 'no-weights');
  fs.mkdirSync(noWeights);
  fs.copyFileSync(path.join(MODEL_DIR, 'config.json'), path.join(noWeights, 'config.json'));
  t.throws(() => loadClipTextModel(noWeights), code('IO'));
  const wrongConfig = path.join(tmp, 'wrong-config');
  fs.mkdirSync(wrongConfig);
  fs.writeFileSync(path.join(wrongConfig, 'config.json'), JSON.stringify({ ...json, hidden_size: 64, num_attention_heads: 4 }));
  fs.copyFileSync(path.join(MODEL_DIR, 'model.safetensors'), path.join(wrongConfig, 'model.safetensors'));
  t.throws(() => loadClipTextModel(wrongConfig), code('IO'), 'shape mismatch');
  // A pipeline root with a text_encoder/ subfolder.
  const root = path.join(tmp, 'pipeline');
  fs.mkdirSync(path.join(root, 'text_encoder'), { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(MODEL_DIR, f), path.join(root, 'text_encoder', f));
  const fromRoot = loadClipTextModel(root);
  t.equal(fromRoot.parameterCount(), 1600672);
  fromRoot.dispose();
  t.throws(() => loadClipTextModel(''), code('ARG'));
});
