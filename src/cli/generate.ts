/**
 * `hgc generate <model> --prompt … --control control.png [options]`: prompt + control image → PNG, with a
 * progress bar on stderr, optional TAESD previews every k steps, any cache policy, and at the end the time and
 * the MACs of the run against the uncached run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { CachePolicy } from '../cache/policy.js';
import type { DType } from '../dtype.js';
import { HgcError } from '../errors.js';
import { parsePolicySpec, policyNames } from '../cache/spec.js';
import { readPng, writePng } from '../io/image.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { slice } from '../ops/layout.js';
import { decodeLatents, encodeText } from '../pipeline/generate.js';
import { denoise } from '../pipeline/denoise.js';
import { MacCounter, countMacs } from '../profile/macs.js';
import { runMacs } from '../profile/policy-macs.js';
import { devices } from '../runtime.js';
import { schedulerNames } from '../schedulers/factory.js';
import type { SchedulerName } from '../schedulers/types.js';
import type { Tensor } from '../tensor.js';
import { type OptionTable, choiceOpt, numberOpt, parseCommand, requiredOpt, stringOpt } from './args.js';
import { UsageError } from './exit-codes.js';
import { type LoadedPipeline, detectLayout, loadPipelineFolder } from './pipeline-folder.js';
import { ProgressBar, formatSeconds } from './progress.js';

/** The options of `hgc generate`. */
export const GENERATE_OPTIONS: OptionTable = {
  prompt: { type: 'string', short: 'p' },
  'negative-prompt': { type: 'string', short: 'n' },
  control: { type: 'string', short: 'c' },
  controlnet: { type: 'string' },
  'controlnet-scale': { type: 'string' },
  vae: { type: 'string' },
  taesd: { type: 'string' },
  steps: { type: 'string', short: 's' },
  guidance: { type: 'string', short: 'g' },
  scheduler: { type: 'string' },
  seed: { type: 'string' },
  noise: { type: 'string' },
  'noise-index': { type: 'string' },
  policy: { type: 'string' },
  out: { type: 'string', short: 'o' },
  width: { type: 'string' },
  height: { type: 'string' },
  'preview-every': { type: 'string' },
  device: { type: 'string' },
  dtype: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** `hgc generate --help`. */
export const GENERATE_USAGE = `Usage: hgc generate <model-folder> --prompt TEXT --control CONTROL.png [options]

<model-folder>: a diffusers SD1.5 pipeline (model_index.json; ControlNet with --controlnet) or the toy model
folder (unet/, controlnet/, text/), e.g. the bundled models/toy-controlnet.

  -p, --prompt TEXT            the prompt (required)
  -n, --negative-prompt TEXT   the unconditional prompt for guidance (default '')
  -c, --control FILE.png       the control image (required); resized to the output size
      --controlnet FOLDER      ControlNet folder (default: the model folder's controlnet/)
      --controlnet-scale X     ControlNet residual scale (default 1)
      --vae FOLDER             decoder: an AutoencoderKL or TAESD folder (default: the pipeline's vae, TAESD for the toy model)
      --taesd FOLDER           TAESD for previews (default: the bundled one)
  -s, --steps N                denoising steps (default 20)
  -g, --guidance X             classifier-free guidance scale (default 7.5; 1 turns CFG off)
      --scheduler NAME         ${schedulerNames.join(' | ')} (default unipc)
      --seed N                 seed of the initial noise (default 0)
      --noise FILE.safetensors  initial latents instead of a seed: the tensor 'noise' (or the file's only tensor),
                               [N, 4, h, w]; row --noise-index (default 0). Sets the size to 8h × 8w.
      --policy SPEC            cache policy, e.g. hgc, deepCache:interval=3, hgc:gateStep=10+tgate (default: uncached)
                               policies: ${policyNames.join(', ')}
  -o, --out FILE.png           output image (default out.png)
      --width N, --height N    output size in pixels, multiples of 64 (default: the UNet's sample_size × 8)
      --preview-every K        every K steps, write <out>.step-NN.png: TAESD's decoding of the current x₀ estimate
      --device NAME            cpu | cuda | cuda-sim (default cpu): where the models run (\`hgc devices\` lists them)
      --dtype NAME             f32 | f16 | bf16 (default f32): the models' dtype (latents and scheduler stay f32)
  -q, --quiet                  no progress bar
      --json                   print the summary as JSON on stdout
`;

/** Initial latents [1, C, h, w]: row `index` of the tensor 'noise' (or the only tensor) of a safetensors file. */
export function readNoise(file: string, index: number): Tensor {
  const f = SafetensorsFile.open(file);
  try {
    const keys = f.keys();
    const name = keys.includes('noise') ? 'noise' : keys.length === 1 ? keys[0]! : undefined;
    if (name === undefined) throw new UsageError(`hgc generate: --noise ${file}: holds ${keys.length} tensors and none is called 'noise'`);
    const { shape } = f.info(name);
    if (shape.length !== 4) throw new UsageError(`hgc generate: --noise ${file}: tensor '${name}' must be [N, C, h, w], is [${shape.join(', ')}]`);
    if (index >= shape[0]!) throw new UsageError(`hgc generate: --noise-index ${index} is out of range: ${file} holds ${shape[0]} rows`);
    const all = f.load(name, { dtype: 'f32' });
    try {
      return slice(all, 0, index, index + 1);
    } finally {
      all.dispose();
    }
  } finally {
    f.close();
  }
}

/** What a finished generation reports. */
export interface GenerateSummary {
  out: string;
  width: number;
  height: number;
  steps: number;
  policy: string;
  seconds: number;
  denoiseSeconds: number;
  stepsPerSecond: number;
  /** MACs of the denoising loop of this run (previews excluded). */
  macs: number;
  /** MACs of the same generation without any cache (traced on the meta device). */
  uncachedMacs: number;
  /** 1 − macs / uncachedMacs. */
  saving: number;
  previews: string[];
}

function previewPath(out: string, step: number, steps: number): string {
  const ext = path.extname(out);
  const base = ext ? out.slice(0, -ext.length) : out;
  return `${base}.step-${String(step).padStart(String(steps).length, '0')}.png`;
}

function parsePolicy(spec: string | undefined): CachePolicy | undefined {
  if (spec === undefined || spec === 'uncached') return undefined;
  try {
    return parsePolicySpec(spec);
  } catch (e) {
    throw new UsageError(`hgc generate: --policy ${JSON.stringify(spec)}: ${(e as Error).message}`);
  }
}

function checkWritableDir(file: string, what: string): void {
  const dir = path.dirname(path.resolve(file));
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new UsageError(`hgc generate: ${what} ${file}: the folder ${dir} does not exist or is not writable`);
  }
}

const gmacs = (x: number) => (x >= 1e12 ? `${(x / 1e12).toFixed(2)} TMACs` : `${(x / 1e9).toFixed(2)} GMACs`);

/** Runs `hgc generate`; returns the exit code. */
export function generateMain(argv: readonly string[]): number {
  const args = parseCommand('generate', argv, GENERATE_OPTIONS, true);
  if (args.values.help) {
    process.stdout.write(GENERATE_USAGE);
    return 0;
  }
  if (args.positionals.length !== 1) {
    throw new UsageError(`hgc generate: expected one model folder, got ${args.positionals.length === 0 ? 'none' : args.positionals.join(' ')}`);
  }
  const folder = args.positionals[0]!;
  const prompt = requiredOpt('generate', args, 'prompt', 'the text prompt');
  const controlPath = requiredOpt('generate', args, 'control', 'the control image, a PNG');
  const steps = numberOpt('generate', args, 'steps', 20, { integer: true, min: 1, max: 1000 });
  const guidance = numberOpt('generate', args, 'guidance', 7.5, { min: 0 });
  const seed = numberOpt('generate', args, 'seed', 0, { integer: true, min: 0 });
  const scale = numberOpt('generate', args, 'controlnet-scale', 1);
  const scheduler = choiceOpt<SchedulerName>('generate', args, 'scheduler', schedulerNames, 'unipc');
  const previewEvery = numberOpt('generate', args, 'preview-every', 0, { integer: true, min: 1 });
  const out = stringOpt(args, 'out') ?? 'out.png';
  const policySpec = stringOpt(args, 'policy');
  const policy = parsePolicy(policySpec);
  const widthOpt = stringOpt(args, 'width') === undefined ? undefined : numberOpt('generate', args, 'width', 0, { integer: true, min: 64 });
  const heightOpt = stringOpt(args, 'height') === undefined ? undefined : numberOpt('generate', args, 'height', 0, { integer: true, min: 64 });
  for (const [name, v] of [['width', widthOpt], ['height', heightOpt]] as const) {
    if (v !== undefined && v % 64 !== 0) throw new UsageError(`hgc generate: --${name} must be a multiple of 64, got ${v}`);
  }
  const device = choiceOpt<'cpu' | 'cuda' | 'cuda-sim'>('generate', args, 'device', ['cpu', 'cuda', 'cuda-sim'], 'cpu');
  const dtype = choiceOpt<DType>('generate', args, 'dtype', ['f32', 'f16', 'bf16'], 'f32');
  const deviceInfo = devices().find((d) => d.name === device);
  if (!deviceInfo?.available) {
    throw new HgcError('DEVICE', `hgc generate: --device ${device} is not available here${deviceInfo?.reason ? `: ${deviceInfo.reason}` : ''}`);
  }
  const noiseFile = stringOpt(args, 'noise');
  const noiseIndex = numberOpt('generate', args, 'noise-index', 0, { integer: true, min: 0 });
  if (noiseFile === undefined && stringOpt(args, 'noise-index') !== undefined) throw new UsageError('hgc generate: --noise-index needs --noise');
  checkWritableDir(out, '--out');
  const quiet = args.values.quiet === true, json = args.values.json === true;
  const log = (line: string) => { if (!quiet) process.stderr.write(`${line}\n`); };

  const t0 = performance.now();
  detectLayout(folder);  // a wrong folder or a missing or broken control image fails before any model loads
  const control = readPng(controlPath);
  let noise: Tensor | undefined;
  let pipe: LoadedPipeline | undefined;
  // No SIGINT handler: the loop is synchronous, so Ctrl-C ends the process at once (exit status 130).
  let latents: Tensor | undefined, image: Tensor | undefined;
  try {
    log(`loading ${folder} ...`);
    pipe = loadPipelineFolder(folder, {
      controlnet: stringOpt(args, 'controlnet'), vae: stringOpt(args, 'vae'), taesd: stringOpt(args, 'taesd'), previews: previewEvery > 0,
      device, dtype,
    });
    noise = noiseFile === undefined ? undefined : readNoise(noiseFile, noiseIndex);
    if (noise && (widthOpt !== undefined || heightOpt !== undefined)) throw new UsageError('hgc generate: --noise sets the size; leave out --width and --height');
    const width = noise ? noise.shape[3]! * 8 : widthOpt ?? pipe.sampleSize * 8;
    const height = noise ? noise.shape[2]! * 8 : heightOpt ?? pipe.sampleSize * 8;
    const encode = (text: string) => encodeText(pipe!.textEncoder, text);
    const cond = encode(prompt);
    const uncond = guidance !== 1 ? encode(stringOpt(args, 'negative-prompt') ?? '') : undefined;
    const bar = quiet ? undefined : new ProgressBar(steps);
    const previews: string[] = [];
    const previewCounter = new MacCounter();
    const tLoop = performance.now();
    let loopSeconds = 0;
    try {
      const { result, counter } = countMacs(() => denoise({
        unet: pipe!.unet, controls: [{ model: pipe!.controlnet, image: control, scale }], cond, uncond, steps, guidance, seed, latents: noise,
        height: height / 8, width: width / 8, scheduler, schedulerConfig: pipe!.schedulerConfig, policy,
        onStep: ({ step, predicted }) => {
          if (previewEvery > 0 && (step + 1) % previewEvery === 0) {
            const file = previewPath(out, step + 1, steps);
            countMacs(() => {
              const img = decodeLatents(pipe!.previewVae!, predicted);  // in the preview decoder's device and dtype
              try {
                writePng(file, img);
              } finally {
                img.dispose();
              }
            }, previewCounter);
            previews.push(file);
          }
          bar?.update(step + 1);
        },
      }));
      latents = result;
      loopSeconds = (performance.now() - tLoop) / 1000;
      bar?.finish();
      image = decodeLatents(pipe.vae, latents);
      writePng(out, image);
      const macs = counter.total() - previewCounter.total();
      const uncachedMacs = policy === undefined ? macs : runMacs(undefined, {
        steps, guidance, height, width, unetConfig: pipe.unetConfig, controlnetConfig: pipe.controlnetConfig,
      }).total();
      const summary: GenerateSummary = {
        out, width, height, steps, policy: policy?.name ?? 'uncached', seconds: (performance.now() - t0) / 1000,
        denoiseSeconds: loopSeconds, stepsPerSecond: steps / loopSeconds, macs, uncachedMacs, saving: 1 - macs / uncachedMacs, previews,
      };
      report(summary, json);
      return 0;
    } catch (e) {
      bar?.finish();
      throw e;
    } finally {
      cond.dispose();
      uncond?.dispose();
    }
  } finally {
    control.dispose();
    noise?.dispose();
    latents?.dispose();
    image?.dispose();
    pipe?.dispose();
  }
}

function report(s: GenerateSummary, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const lines = [
    `wrote ${s.out} (${s.width}×${s.height}) in ${formatSeconds(s.seconds)}; denoising ${formatSeconds(s.denoiseSeconds)} ` +
      `(${s.steps} steps, ${s.stepsPerSecond.toFixed(2)} steps/s)`,
    s.policy === 'uncached'
      ? `MACs: ${gmacs(s.macs)} (uncached run; try --policy hgc)`
      : `MACs: ${gmacs(s.macs)} with ${s.policy}, against ${gmacs(s.uncachedMacs)} uncached: ${(100 * s.saving).toFixed(1)}% saved ` +
        `(${(s.uncachedMacs / s.macs).toFixed(2)}× fewer)`,
  ];
  if (s.previews.length > 0) lines.push(`previews: ${s.previews.join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
