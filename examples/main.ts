/**
 * The main job (`npm run main`): real images from the small trained models that ship with hgc (the toy
 * SD1.5-architecture UNet + ControlNet and TAESD), generated once per cache policy from segmentation-mask
 * controls of the toy model's evaluation set. Prints what each policy saved (MACs, time) and its fidelity (mIoU
 * against the control masks, as the toy README defines it, and against the uncached images), writes the images
 * and two SVG charts, and says how to run `hgc generate` on real SD1.5 + ControlNet checkpoints.
 *
 *   npm run main [-- --cases 8] [--out hgc-output]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import {
  type Tensor, cache, countMacs, denoise, devices, evaluation, loadControlNet, loadTaesd, loadUNet, models, numThreads,
  readMaskPng, readPng, runMacs, SafetensorsFile, toUint8, viz, writePng,
} from '../src/index.js';
import { exitCodeFor } from '../src/cli/exit-codes.js';
import { locateModels } from '../src/cli/locate-models.js';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '8' }, out: { type: 'string', default: 'hgc-output' } } });
const caseCount = Number(values.cases);
if (!Number.isInteger(caseCount) || caseCount < 1 || caseCount > 64) {
  console.error(`--cases must be an integer in 1..64, got ${values.cases}`);
  process.exit(2);
}
const outDir = path.resolve(values.out!);

/** The policies of the tour, with a short label each. */
const POLICIES: [string, cache.CachePolicy | undefined][] = [
  ['uncached', undefined],
  ['deepCache', cache.deepCache()],
  ['tgate', cache.tgate()],
  ['fasterDiffusion', cache.fasterDiffusion()],
  ['hgc', cache.hgc()],
];

interface Result { label: string; macs: number; ms: number; rgb: Uint8Array[]; seg: Uint8Array[] }

function run(): void {
  let where;
  try {
    where = locateModels();
  } catch (e) {
    console.error(`npm run main: ${(e as Error).message}`);
    process.exit(exitCodeFor(e));
  }
  const toy = (...p: string[]) => path.join(where.toy, ...p);
  console.log(`hgc main job: the bundled trained toy ControlNet model + TAESD, once per cache policy`);
  console.log(`models: ${where.root} (found via ${where.source})`);
  console.log(`devices: ${devices().map((d) => `${d.name} ${d.available ? 'available' : `unavailable (${d.reason})`}`).join('; ')}; ` +
    `CPU threads ${numThreads()}\n`);

  const t0 = performance.now();
  const unet = loadUNet(toy('unet'));
  const controlnet = loadControlNet(toy('controlnet'));
  const text = new models.ToyTextEncoder(toy('text'));
  const taesd = loadTaesd(where.taesd, { parts: 'decoder' });
  const spec = JSON.parse(fs.readFileSync(toy('eval', 'cases.json'), 'utf8')) as { cases: { name: string; prompt: string }[] };
  const noiseFile = SafetensorsFile.open(toy('eval', 'noise.safetensors'));
  const noiseAll = noiseFile.load('noise');
  noiseFile.close();
  const per = 4 * 16 * 16;
  const noise = noiseAll.toFloat32();
  noiseAll.dispose();
  const uncond = text.encode('');
  const cases = spec.cases.slice(0, caseCount).map((c, i) => ({
    name: c.name, prompt: c.prompt, cond: text.encode(c.prompt), control: readPng(toy('eval', `${c.name}_control.png`)),
    mask: readMaskPng(toy('eval', `${c.name}_mask.png`)).data, noise: noise.subarray(i * per, (i + 1) * per),
  }));
  console.log(`loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${cases.length} evaluation cases, 20 UniPC steps, CFG 7.5 ` +
    `(the toy README's protocol)\n`);

  const { tensor } = require('../src/index.js') as typeof import('../src/index.js');
  // One untimed generation first, so the first timed policy does not pay for warming caches and allocators up.
  const warm = tensor(cases[0]!.noise, [1, 4, 16, 16]);
  denoise({ unet, controls: [{ model: controlnet, image: cases[0]!.control }], cond: cases[0]!.cond, uncond, latents: warm, steps: 2 }).dispose();
  warm.dispose();
  const results: Result[] = [];
  for (const [label, policy] of POLICIES) {
    fs.mkdirSync(path.join(outDir, label), { recursive: true });
    const r: Result = { label, macs: 0, ms: 0, rgb: [], seg: [] };
    for (const c of cases) {
      const latents0 = tensor(c.noise, [1, 4, 16, 16]);
      const start = performance.now();
      const { result, counter } = countMacs(() => denoise({
        unet, controls: [{ model: controlnet, image: c.control }], cond: c.cond, uncond, latents: latents0, steps: 20, guidance: 7.5,
        scheduler: 'unipc', schedulerConfig: { finalSigmasType: 'zero' }, policy,
      }));
      r.ms += performance.now() - start;
      r.macs += counter.total();
      latents0.dispose();
      const image: Tensor = taesd.decodeToUnit(result);
      result.dispose();
      writePng(path.join(outDir, label, `${c.name}.png`), image);
      const rgb = toUint8(image).data;
      image.dispose();
      r.rgb.push(rgb);
      r.seg.push(evaluation.segmentByPalette(rgb));
    }
    results.push(r);
    process.stderr.write(`  ${label}: ${cases.length} images in ${(r.ms / 1000).toFixed(1)} s\n`);
  }

  const ref = results[0]!;
  const sd15Base = runMacs(undefined).total();
  const rows = results.map((r, k) => {
    const vsMask = new evaluation.MiouAccumulator(), vsRef = new evaluation.MiouAccumulator();
    let psnr = 0;
    r.seg.forEach((s, i) => {
      vsMask.add(s, cases[i]!.mask);
      vsRef.add(s, ref.seg[i]!);
      psnr += Math.min(evaluation.psnrUint8(r.rgb[i]!, ref.rgb[i]!), 100);  // identical images count as 100 dB
    });
    return {
      label: r.label, macsRatio: r.macs / ref.macs, toyGmacs: r.macs / cases.length / 1e9, msPerImage: r.ms / cases.length,
      speedup: ref.ms / r.ms, sd15Tmacs: runMacs(POLICIES[k]![1]).total() / 1e12, miou: vsMask.miou(), miouVsRef: vsRef.miou(),
      psnr: psnr / cases.length,
    };
  });
  console.log('\n| policy | toy GMACs/image | MACs saved | SD1.5 TMACs (512², meta) | ms/image | speed | mIoU vs mask | mIoU vs uncached | PSNR vs uncached |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.label} | ${r.toyGmacs.toFixed(2)} | ${(100 * (1 - r.macsRatio)).toFixed(1)}% | ${r.sd15Tmacs.toFixed(2)} ` +
      `(${((100 * r.sd15Tmacs * 1e12) / sd15Base).toFixed(0)}%) | ${r.msPerImage.toFixed(0)} | ${r.speedup.toFixed(2)}× | ${r.miou.toFixed(4)} | ` +
      `${r.miouVsRef.toFixed(4)} | ${r.psnr >= 100 ? 'identical' : `${r.psnr.toFixed(2)} dB`} |`);
  }
  console.log(`\nmIoU vs mask: dataset-level mIoU of the images segmented by nearest palette colour against the control masks.`);
  console.log(`The toy model is weak (its README: 0.2326 uncached over all 64 cases, 0.139 with the ControlNet off, 0.993 for a`);
  console.log(`perfect generator); with ${cases.length} cases the figure is noisy. The fidelity columns compare with the uncached images.`);

  const chart = viz.qualityVsMacsSvg(rows.map((r) => ({
    label: r.label, macsRatio: r.macsRatio, metrics: { miou: r.miou, miouVsRef: r.miouVsRef, psnr: r.psnr >= 100 ? NaN : r.psnr },
  })), viz.TOY_QUALITY_PANELS, { title: `Toy ControlNet model, ${cases.length} cases: quality against MACs (measured on the toy model)` });
  fs.writeFileSync(path.join(outDir, 'quality-vs-macs.svg'), chart);
  const timeline = viz.stepTimelineSvg(POLICIES.map(([label, p]) => {
    const t = viz.tracePolicy(p);
    return { label, steps: t.steps, note: `${(t.counter.total() / 1e12).toFixed(2)} TMACs (${((100 * t.counter.total()) / sd15Base).toFixed(1)}%)` };
  }), { title: 'SD1.5 + ControlNet, 512², 20 steps, CFG: what each step computes' });
  fs.writeFileSync(path.join(outDir, 'timeline.svg'), timeline);
  console.log(`\nwrote ${outDir}/<policy>/case_NNN.png (${results.length * cases.length} images), quality-vs-macs.svg, timeline.svg ` +
    `in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  console.log(`
Next: the same with real SD1.5 + ControlNet checkpoints (diffusers folders with safetensors weights, e.g.
stable-diffusion-v1-5/stable-diffusion-v1-5 and lllyasviel/control_v11p_sd15_seg from Hugging Face):

  npx hgc generate /models/stable-diffusion-v1-5 --controlnet /models/control_v11p_sd15_seg \\
      --prompt "a modern living room" --control seg.png --policy hgc --steps 20 --out room.png --preview-every 5

  npx hgc macs --policy hgc --plot timeline.svg      # MACs per policy at full size, no weights needed
  npx hgc help                                       # every command and option (docs/cli.md)
`);
  for (const c of cases) {
    c.cond.dispose();
    c.control.dispose();
  }
  uncond.dispose();
  unet.dispose();
  controlnet.dispose();
  taesd.dispose();
}

run();
