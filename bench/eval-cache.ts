/**
 * Cache-policy evaluation on the trained toy SD1.5-architecture model (../shared/fixtures/toy-controlnet; its
 * README defines the protocol): for each policy, SD1.5-size MACs (meta device), toy-model MACs and CPU time,
 * mIoU against the control masks, and fidelity to the uncached run (PSNR of the decoded image, agreement of its
 * segmentation with the uncached image's, mIoU with the uncached segmentation as ground truth).
 *
 *   node dist/bench/eval-cache.js [--cases 64 | --cases 0-31] [--splits 0-31,32-63] [--policy spec …] [--json]
 *                                 [--fixtures ../shared/fixtures] [--plot quality.svg]
 *
 * `--cases` takes a count (the first N cases) or an inclusive range `a-b` of case indices. `--splits` adds, for
 * every policy, rows scored on each listed sub-range of the evaluated cases (from the same runs), so a variant can
 * be chosen on one split and reported on another (docs/cache-evaluation.md); `a-b+c-d` joins ranges.
 *
 * `--plot` writes quality (mIoU against the masks, and the two fidelity measures) against the toy model's measured
 * MACs for every policy as an SVG chart (docs/img/quality-vs-macs.svg is this chart for the 64 cases).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import {
  type Tensor, cache, countMacs, viz, denoise, evaluation, loadSafetensors, loadTaesd, models, readMaskPng, readPng, runMacs, toUint8,
} from '../src/index.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '64' },
    splits: { type: 'string' },
    json: { type: 'boolean', default: false },
    fixtures: { type: 'string', default: path.resolve(__dirname, '../../../shared/fixtures') },
    policy: { type: 'string', multiple: true },
    plot: { type: 'string' },
  },
});
const fx = (...p: string[]) => path.join(values.fixtures!, ...p);
const toy = (...p: string[]) => fx('toy-controlnet', ...p);
const log = (s: string) => { if (!values.json) console.log(s); };

function load<M extends { loadStateDict(m: Map<string, Tensor>): unknown }>(model: M, file: string): M {
  const w = loadSafetensors(file);
  model.loadStateDict(w);
  for (const x of w.values()) x.dispose();
  return model;
}

const unet = load(new models.UNet2DConditionModel(JSON.parse(fs.readFileSync(toy('unet', 'config.json'), 'utf8'))), toy('unet', 'diffusion_pytorch_model.safetensors'));
const controlnet = load(new models.ControlNetModel(JSON.parse(fs.readFileSync(toy('controlnet', 'config.json'), 'utf8'))), toy('controlnet', 'diffusion_pytorch_model.safetensors'));
const text = new models.ToyTextEncoder(toy('text'));
const taesd = loadTaesd(fx('taesd'), { parts: 'decoder' });
const spec = JSON.parse(fs.readFileSync(toy('eval', 'cases.json'), 'utf8')) as { cases: { name: string; prompt: string }[] };

/** Case indices of `a-b` (inclusive) or of a count N (0..N−1), clipped to the fixture's cases; `+` joins ranges. */
function caseRange(text: string): number[] {
  if (text.includes('+')) return [...new Set(text.split('+').flatMap((part) => caseRange(part)))].sort((a, b) => a - b);
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const [lo, hi] = m ? [Number(m[1]), Number(m[2])] : [0, Number(text) - 1];
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo <= hi)) throw new Error(`--cases/--splits: bad range '${text}' (N or a-b)`);
  return Array.from({ length: Math.min(hi, spec.cases.length - 1) - lo + 1 }, (_, k) => lo + k);
}
const caseIds = caseRange(values.cases!);
const count = caseIds.length;
const splits = (values.splits ?? '').split(',').filter((x) => x.trim() !== '').map((x) => ({ label: x.trim(), ids: caseRange(x) }));
const noise = loadSafetensors(toy('eval', 'noise.safetensors')).get('noise')!;
const uncond = text.encode('');

interface Case { cond: Tensor; control: Tensor; noise: Tensor; mask: Uint8Array }
const cases: Case[] = caseIds.map((i) => ({ c: spec.cases[i]!, i })).map(({ c, i }) => ({
  cond: text.encode(c.prompt),
  control: readPng(toy('eval', `${c.name}_control.png`)),
  noise: sliceNoise(i),
  mask: readMaskPng(toy('eval', `${c.name}_mask.png`)).data,
}));

function sliceNoise(i: number): Tensor {
  const all = noise.toFloat32();
  const per = 4 * 16 * 16;
  const { tensor } = require('../src/index.js') as typeof import('../src/index.js');
  return tensor(all.subarray(i * per, (i + 1) * per), [1, 4, 16, 16]);
}

interface Output { rgb: Uint8Array; seg: Uint8Array }
interface Run { out: Output; macs: number; ms: number }
function generate(c: Case, policy: cache.CachePolicy | undefined): Run {
  const t0 = process.hrtime.bigint();
  const { result, counter } = countMacs(() => denoise({
    unet, controls: [{ model: controlnet, image: c.control }], cond: c.cond, uncond, latents: c.noise, steps: 20, guidance: 7.5,
    scheduler: 'unipc', schedulerConfig: { finalSigmasType: 'zero' }, policy,
  }));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const image = taesd.decodeToUnit(result);
  result.dispose();
  const rgb = toUint8(image).data;
  image.dispose();
  return { out: { rgb, seg: evaluation.segmentByPalette(rgb) }, macs: counter.total(), ms };
}

interface Row {
  policy: string; sd15Tmacs: number; macRatio: number; toyMacRatio: number; msPerImage: number; speedup: number;
  miou: number; pixelAccuracy: number; psnr: number; segAgreement: number; miouVsReference: number;
}

const reference = cases.map((c) => generate(c, undefined));
const sum = (at: number[], f: (r: Run) => number) => at.reduce((s, k) => s + f(reference[k]!), 0);
const sd15Base = runMacs(undefined).total();

function evaluate(label: string, policy: cache.CachePolicy | undefined, runs = policy ? cases.map((c) => generate(c, policy)) : reference): Row {
  for (const sp of splits) {
    const at = sp.ids.map((id) => caseIds.indexOf(id)).filter((k) => k >= 0);
    score(`${label} [cases ${sp.label}]`, policy, at.map((k) => runs[k]!), at);
  }
  return score(label, policy, runs, runs.map((_, k) => k));
}

/** Scores runs[j] (of case cases[at[j]]) against the masks and the uncached run. */
function score(label: string, policy: cache.CachePolicy | undefined, runs: Run[], at: number[]): Row {
  const vsMask = new evaluation.MiouAccumulator(), vsRef = new evaluation.MiouAccumulator();
  let psnr = 0, agree = 0, macs = 0, ms = 0;
  runs.forEach((r, j) => {
    const i = at[j]!;
    vsMask.add(r.out.seg, cases[i]!.mask);
    vsRef.add(r.out.seg, reference[i]!.out.seg);
    const p = evaluation.psnrUint8(r.out.rgb, reference[i]!.out.rgb);
    psnr += Number.isFinite(p) ? p : 100;  // identical images count as 100 dB
    agree += evaluation.agreement(r.out.seg, reference[i]!.out.seg);
    macs += r.macs;
    ms += r.ms;
  });
  const sd15 = runMacs(policy).total();
  const row: Row = {
    policy: label, sd15Tmacs: sd15 / 1e12, macRatio: sd15 / sd15Base, toyMacRatio: macs / sum(at, (r) => r.macs), msPerImage: ms / runs.length,
    speedup: sum(at, (r) => r.ms) / ms, miou: vsMask.miou(), pixelAccuracy: vsMask.pixelAccuracy(), psnr: psnr / runs.length,
    segAgreement: agree / runs.length, miouVsReference: vsRef.miou(),
  };
  log(`| ${label} | ${row.sd15Tmacs.toFixed(2)} | ${(100 * row.macRatio).toFixed(1)}% | ${(100 * row.toyMacRatio).toFixed(1)}% | ${row.msPerImage.toFixed(0)} | ${row.speedup.toFixed(2)}× | ${row.miou.toFixed(4)} | ${row.psnr.toFixed(2)} | ${row.segAgreement.toFixed(4)} | ${row.miouVsReference.toFixed(4)} |`);
  return row;
}

/** The parameter of a peer family whose SD1.5 MACs come closest to `target`. */
function matched(make: (k: number) => cache.CachePolicy, ks: number[], target: number): cache.CachePolicy {
  let best = make(ks[0]!), bestD = Infinity;
  for (const k of ks) {
    const p = make(k);
    const d = Math.abs(runMacs(p).total() - target);
    if (d < bestD) { bestD = d; best = p; }
  }
  return best;
}

log(`Toy ControlNet evaluation: ${count} cases (${caseIds[0]}–${caseIds[count - 1]}), 20 UniPC steps, CFG 7.5; reference = the uncached run.\n`);
log('| policy | SD1.5 TMACs | of baseline | toy MACs | ms/image | speed | mIoU vs mask | PSNR vs ref (dB) | seg. agreement | mIoU vs ref |');
log('|---|---|---|---|---|---|---|---|---|---|');
const rows: Row[] = [];
rows.push(evaluate('uncached (reference)', undefined));
/** Writes the quality-against-MACs chart of the rows when --plot is given. */
function plot(): void {
  if (values.plot === undefined) return;
  fs.writeFileSync(values.plot, viz.qualityVsMacsSvg(rows.map((r) => ({
    label: r.policy, macsRatio: r.toyMacRatio,
    // Bit-identical runs score 100 dB by convention: left out of the PSNR panel rather than squashing its axis.
    metrics: { miou: r.miou, miouVsRef: r.miouVsReference, psnr: r.psnr >= 100 ? NaN : r.psnr },
  })), viz.TOY_QUALITY_PANELS, { title: `Toy ControlNet model, ${count} cases, 20 UniPC steps: quality against the MACs measured on the toy model` }));
  log(`\nwrote ${values.plot}`);
}
if (values.policy) {
  for (const specText of values.policy) rows.push(evaluate(specText, cache.parsePolicySpec(specText)));
  if (values.json) console.log(JSON.stringify(rows, null, 2));
  plot();
  process.exit(0);
}
const hgcPolicy = cache.hgc();
const target = runMacs(hgcPolicy).total();
for (const [label, p] of [
  ['none', cache.none()], ['deepCache (defaults)', cache.deepCache()], ['tgate (defaults)', cache.tgate()],
  ['fasterDiffusion (defaults)', cache.fasterDiffusion()], ['hgc (defaults)', hgcPolicy],
  ['hgc, previous defaults (λ_intra 1, full steps 0/3/8/13/18)', cache.hgc({ lambdaIntra: 1, fullSteps: [0, 3, 8, 13, 18] })],
  ['hgc, reuse as stored (hold, DeepCache\'s rule)', cache.hgc({ reuse: 'hold' })],
  ['hgc, gate g = 10 (the reference default)', cache.hgc({ gateStep: 10 })],
  ['hgc online (λ_intra 0, τ = 0.12)', cache.hgc({ schedule: 'online', lambdaIntra: 0, threshold: 0.12 })],
] as [string, cache.CachePolicy][]) rows.push(evaluate(label, p));
// Peers at the MACs of HGC's defaults (as close as each family gets).
const dcm = matched((k) => cache.deepCache({ interval: k }), [3, 4, 5, 6, 8, 10, 13, 20], target);
rows.push(evaluate(`${dcm.name} (matched MACs)`, dcm));
const tgm = matched((k) => cache.tgate({ gateStep: k }), [1, 2, 3, 4, 5, 6, 8, 10], target);
rows.push(evaluate(`${tgm.name} (matched MACs)`, tgm));
const fdm = matched((k) => cache.fasterDiffusion({ keySteps: Array.from({ length: Math.ceil(20 / k) }, (_, i) => i * k) }), [2, 3, 4, 5, 6, 8, 10, 20], target);
rows.push(evaluate(`${fdm.name} (matched MACs)`, fdm));
const dctg = matched((k) => cache.compose(cache.deepCache({ interval: k }), cache.tgate({ gateStep: 19 })), [3, 4, 5, 6, 8], target);
rows.push(evaluate(`${dctg.name} (matched MACs)`, dctg));
if (values.json) console.log(JSON.stringify(rows, null, 2));
plot();
