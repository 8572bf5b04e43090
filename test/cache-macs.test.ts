// Whole-run MACs of each policy on the meta device (SD1.5 + ControlNet, 512², 20 steps, CFG 7.5) against a hand
// computation from one traced step's per-block MACs.
import t from 'tap';

import { type MacRecord, cache, runMacs, sd15StepMacs } from '../dist/src/index.js';

const step = sd15StepMacs();
const sum = (recs: readonly MacRecord[], f: (r: MacRecord) => boolean) =>
  recs.filter((r) => ['conv', 'linear', 'norm'].includes(r.category) && f(r)).reduce((s, r) => s + r.macs, 0);
const U = step.unet.total(), CN = step.controlnet.total();
const kv = (recs: readonly MacRecord[]) => sum(recs, (r) => /attn2\.to_[kv]$/.test(r.path));
const attn2 = (recs: readonly MacRecord[]) => sum(recs, (r) => /attn2\./.test(r.path));
const KV_U = kv(step.unet.records), KV_C = kv(step.controlnet.records);
const A2_U = attn2(step.unet.records), A2_C = attn2(step.controlnet.records);
const EMB = sum(step.controlnet.records, (r) => r.path.startsWith('controlnet_cond_embedding'));
// Per image: G and C with the exact caches (text K/V and the conditioning embedding once per generation).
const G = U - KV_U, C = CN - KV_C - EMB;
const ONCE = 2 * (KV_U + KV_C + EMB);  // the exact caches, computed once at batch 2
const shallow0 = sum(step.unet.records, (r) => /^(conv_in|time_embedding|conv_norm_out|conv_out)/.test(r.path)
  || /^down_blocks\.0\.(resnets|attentions)\.0\./.test(r.path) || /^up_blocks\.3\.(resnets|attentions)\.2\./.test(r.path));
const decoder = sum(step.unet.records, (r) => /^(up_blocks|conv_norm_out|conv_out|time_embedding)/.test(r.path) && !/attn2\.to_[kv]$/.test(r.path));
// S_0 as run under a policy: its two cross-attention layers take K/V from the exact cache.
const shallow0G = sum(step.unet.records, (r) => (/^(conv_in|time_embedding|conv_norm_out|conv_out)/.test(r.path)
  || /^down_blocks\.0\.(resnets|attentions)\.0\./.test(r.path) || /^up_blocks\.3\.(resnets|attentions)\.2\./.test(r.path))
  && !/attn2\.to_[kv]$/.test(r.path));
const near = (got: number, want: number) => Math.abs(got / want - 1) < 1e-9;

t.test('uncached baseline: 18.22 T (the HGC paper), none: the same minus the exact caches', async (t) => {
  const base = runMacs(undefined).total();
  t.ok(Math.abs(base / 18.22e12 - 1) < 0.003, `baseline ${(base / 1e12).toFixed(3)} T`);
  t.ok(near(base, 20 * 2 * (U + CN)), 'baseline = 20 steps × 2 images × (UNet + ControlNet)');
  t.ok(near(runMacs(cache.none()).total(), 20 * 2 * (G + C) + ONCE), 'none');
  t.equal((shallow0 / 1e9).toFixed(3), '36.713', 'the shallowest cached step costs 36.713 GMACs (reference/hgc.md)');
});

t.test('peers match hand computations', async (t) => {
  // DeepCache, interval 3, branch 0: 7 full steps, 13 shallow; ControlNet every step.
  t.ok(near(runMacs(cache.deepCache({ interval: 3, branch: 0 })).total(), 7 * 2 * G + 13 * 2 * shallow0G + 20 * 2 * C + ONCE), 'deepCache');
  // T-GATE, gate 10: 10 steps at batch 2, then batch 1 with every cross-attention layer (q, k, v, out) skipped.
  t.ok(near(runMacs(cache.tgate({ gateStep: 10 })).total(), 10 * 2 * (G + C) + 10 * (U - A2_U + CN - A2_C - EMB) + ONCE), 'tgate');
  // Faster-Diffusion, key steps [0, 2, 5, 9]: encoder + ControlNet on those, decoder only elsewhere.
  t.ok(near(runMacs(cache.fasterDiffusion({ keySteps: [0, 2, 5, 9] })).total(), 4 * 2 * (G + C) + 16 * 2 * decoder + ONCE), 'fasterDiffusion');
});

t.test('the worked example policy: ControlNet every 2nd step', async (t) => {
  t.ok(near(runMacs(cache.controlNetEvery(2)).total(), 20 * 2 * G + 10 * 2 * C + ONCE), 'controlNetEvery(2)');
  t.throws(() => cache.controlNetEvery(0), { name: 'HgcError', code: 'ARG' });
});

t.test('HGC defaults land at the paper figure, 6.70 T ± 3%', async (t) => {
  const total = runMacs(cache.hgc()).total();
  t.ok(Math.abs(total / 6.70e12 - 1) < 0.03, `hgc defaults ${(total / 1e12).toFixed(3)} T`);
});

t.test('HGC per-step cache depth matches a hand computation', async (t) => {
  // S_b as run on an HGC cached step: its cross-attention layers replay (no attn2 work at all), C does not run.
  const noAttn2 = (r: MacRecord) => !/attn2\./.test(r.path);
  const ends = (r: MacRecord) => /^(conv_in|time_embedding|conv_norm_out|conv_out)/.test(r.path);
  const s0 = sum(step.unet.records, (r) => noAttn2(r) && (ends(r) || /^down_blocks\.0\.(resnets|attentions)\.0\./.test(r.path)
    || /^up_blocks\.3\.(resnets|attentions)\.2\./.test(r.path)));
  const s2 = sum(step.unet.records, (r) => noAttn2(r) && (ends(r) || /^down_blocks\.0\./.test(r.path) || /^up_blocks\.3\./.test(r.path)));
  // The default: full steps 0/3/6/10/14/18; branch 0 on cached steps before 16, branch 2 on 16, 17 and 19.
  t.same(cache.defaultHgcBranches(20), [...Array(16).fill(0), 2, 2, 2, 2]);
  t.same(cache.defaultHgcBranches(10), [...Array(8).fill(0), 2, 2], 'scaled: the last fifth');
  t.ok(near(runMacs(cache.hgc()).total(), 6 * 2 * (G + C) + 11 * 2 * s0 + 3 * 2 * s2 + ONCE), 'hgc defaults');
  // An explicit list: branch 1 on steps 1, 2 and 4, branch 0 elsewhere, full steps 0 and 3.
  const s1 = sum(step.unet.records, (r) => noAttn2(r) && (ends(r) || /^down_blocks\.0\.(resnets|attentions)\.[01]\./.test(r.path)
    || /^up_blocks\.3\.(resnets|attentions)\.[12]\./.test(r.path)));
  const list = [0, 1, 1, 0, 1, 0, 0, 0];
  t.ok(near(runMacs(cache.hgc({ lambdaIntra: list, fullSteps: [0, 3] }), { steps: 8 }).total(), 2 * 2 * (G + C) + 3 * 2 * s1 + 3 * 2 * s0 + ONCE), 'per-step list');
  t.ok(near(runMacs(cache.hgc({ lambdaIntra: 1, fullSteps: [0, 3] }), { steps: 8 }).total(), 2 * 2 * (G + C) + 6 * 2 * s1 + ONCE), 'one branch');
});

t.test('policy specs and npm run macs -- --policy', async (t) => {
  t.equal(cache.parsePolicySpec('deepCache:interval=4,branch=1').name, 'deepCache(interval=4, branch=1)');
  t.match(cache.parsePolicySpec('deepCache+tgate:gateStep=8').name, /deepCache.*\+ tgate\(gateStep=8\)/);
  t.ok(near(runMacs(cache.parsePolicySpec('hgc:fullSteps=0/3/6/10/14/18')).total(), runMacs(cache.hgc()).total()), 'list values');
  t.throws(() => cache.parsePolicySpec('magic'), { name: 'HgcError', code: 'ARG', message: /unknown policy 'magic'/ });
  t.throws(() => cache.parsePolicySpec('hgc:gateStep'), { name: 'HgcError', code: 'ARG' });
  t.throws(() => cache.parsePolicySpec(''), { name: 'HgcError', code: 'ARG' });
  const { execFileSync } = await import('node:child_process');
  const out = JSON.parse(execFileSync(process.execPath, ['dist/src/cli/macs.js', '--json', '--policy', 'hgc', '--policy', 'tgate'], { cwd: `${__dirname}/..` }).toString());
  t.equal(out.policies.length, 2);
  t.ok(Math.abs(out.policies[0].modules / 6.70e12 - 1) < 0.03, 'hgc total in the JSON');
  t.ok(out.policies[1].speedup > 1, 'tgate speedup');
  const text = execFileSync(process.execPath, ['dist/src/cli/macs.js', '--policy', 'deepCache:interval=3'], { cwd: `${__dirname}/..` }).toString();
  t.match(text, /Policy deepCache\(interval=3, branch=0\): \d+\.\d{3} TMACs/);
  t.match(text, /per step \(GMACs\): setup:/);
});
