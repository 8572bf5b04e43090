// The hgc command line: argument parsing and error paths (run as a child process: exit codes and messages),
// help, devices, macs --plot, bench; and its building blocks (progress bar, option readers, model location).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { HgcError, writeSafetensors, zeros } from '../dist/src/index.js';
import { choiceOpt, numberOpt, parseCommand, requiredOpt } from '../dist/src/cli/args.js';
import { EXIT, UsageError, exitCodeFor } from '../dist/src/cli/exit-codes.js';
import { locateModels, missingModelFiles } from '../dist/src/cli/locate-models.js';
import { detectLayout, schedulerSettings } from '../dist/src/cli/pipeline-folder.js';
import { ProgressBar, formatSeconds } from '../dist/src/cli/progress.js';
import { hgc, hgcInProcess } from './helpers/cli';
import { FIXTURES } from './helpers/golden';
import { allElements, parseXml } from './helpers/xml';
import { toyPath } from './helpers/toy';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-cli-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const control = toyPath('eval', 'case_000_control.png');
const toy = toyPath();

t.test('usage errors exit 2 with a message naming the problem', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /Usage: hgc <command>/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['help', 'frobnicate'], /unknown command 'frobnicate'/],
    [['devices', '--bogus'], /Unknown option '--bogus'/],
    [['generate'], /expected one model folder, got none/],
    [['generate', toy, '--control', control], /--prompt is required/],
    [['generate', toy, '--prompt', 'red circle'], /--control is required/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--steps', '0'], /--steps must be an integer in 1\.\.1000, got "0"/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--steps', 'ten'], /--steps must be an integer/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--guidance=-1'], /--guidance must be a number ≥ 0/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--guidance', '-1'], /argument is ambiguous/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--scheduler', 'pndm'], /--scheduler must be one of ddim, euler, dpmpp-2m, unipc/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--policy', 'fastest'], /--policy "fastest": unknown policy 'fastest'/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--policy', 'hgc:gateStep'], /not key=value/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--width', '100'], /--width must be a multiple of 64/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--noise-index', '1'], /--noise-index needs --noise/],
    [['generate', toy, '-p', 'red circle', '-c', control, '--out', path.join(tmp, 'no', 'such', 'dir', 'x.png')], /does not exist or is not writable/],
    [['generate', toy, '-p', 'red unicorn', '-c', control, '-o', path.join(tmp, 'u.png'), '-q'], /'unicorn' is not in the vocabulary/],
    [['generate', toy, '-p', 'red circle', '-c', control, '-o', path.join(tmp, 'n.png'), '--noise', toyPath('eval', 'noise.safetensors'), '--noise-index', '64'],
      /--noise-index 64 is out of range: .* holds 64 rows/],
    [['macs', '--size', '100'], /--size must be a multiple of 64/],
    [['macs', '--policy', 'nope'], /unknown policy 'nope'/],
    [['bench', '--filter', 'no such case'], /no case matches/],
    [['bench', '--filter', '('], /not a regular expression/],
  ];
  // The first few as child processes (the real binary, exit status included), the rest in process (same code).
  for (const [k, [args, msg]] of cases.entries()) {
    const r = k < 6 ? hgc(args) : await hgcInProcess(args);
    t.equal(r.code, EXIT.USAGE, `hgc ${args.join(' ')} → exit 2`);
    t.match(r.stderr + r.stdout, msg, `… says ${msg}`);
  }
});

t.test('input errors (missing, unreadable or wrong files and models) exit 3', async (t) => {
  const notPng = path.join(tmp, 'not.png');
  fs.writeFileSync(notPng, 'hello');
  const cases: [string[], RegExp][] = [
    [['generate', path.join(tmp, 'missing'), '-p', 'red circle', '-c', control], /model folder .*missing does not exist/],
    [['generate', toyPath('unet', 'config.json'), '-p', 'red circle', '-c', control], /is a file; hgc generate takes a model folder/],
    [['generate', tmp, '-p', 'red circle', '-c', control], /is not a model folder: expected model_index.json/],
    [['generate', toyPath('controlnet'), '-p', 'red circle', '-c', control], /single ControlNetModel, not a pipeline: pass it with --controlnet/],
    [['generate', toyPath('unet'), '-p', 'red circle', '-c', control], /single UNet2DConditionModel/],
    [['generate', toy, '-p', 'red circle', '-c', path.join(tmp, 'nope.png')], /readPng .*nope.png: cannot read/],
    [['generate', toy, '-p', 'red circle', '-c', notPng], /not a PNG file/],
    [['generate', toy, '-p', 'red circle', '-c', control, '-o', path.join(tmp, 'x.png'), '--controlnet', toyPath('unet')],
      /describes a UNet2DConditionModel, not a ControlNetModel/],
    [['generate', toy, '-p', 'red circle', '-c', control, '-o', path.join(tmp, 'x.png'), '--vae', toyPath('text')], /VAE folder .* config.json is missing/],
    [['generate', toy, '-p', 'red circle', '-c', control, '-o', path.join(tmp, 'x.png'), '--noise', notPng], /not.png/],
  ];
  for (const [k, [args, msg]] of cases.entries()) {
    const r = k < 4 ? hgc(args) : await hgcInProcess(args);
    t.equal(r.code, EXIT.INPUT, `hgc ${args.slice(0, 2).join(' ')} … → exit 3`);
    t.match(r.stderr, msg, `… says ${msg}`);
  }
  // A diffusers pipeline folder without a ControlNet is a usage problem; with a broken one an input problem.
  const pipe = path.join(tmp, 'pipe');
  fs.mkdirSync(pipe);
  fs.writeFileSync(path.join(pipe, 'model_index.json'), '{"_class_name": "StableDiffusionPipeline"}');
  let r = hgc(['generate', pipe, '-p', 'a cat', '-c', control, '-o', path.join(tmp, 'x.png')]);
  t.equal(r.code, EXIT.USAGE);
  t.match(r.stderr, /has no controlnet\/ folder: pass a ControlNet with --controlnet/);
  r = hgc(['generate', pipe, '-p', 'a cat', '-c', control, '-o', path.join(tmp, 'x.png'), '--controlnet', toyPath('controlnet')]);
  t.equal(r.code, EXIT.INPUT);
  t.match(r.stderr, /tokenizer/, 'names the missing tokenizer files');
});

t.test('runtime errors exit 4', async (t) => {
  const noise = path.join(tmp, 'noise3.safetensors');
  const x = zeros([1, 3, 16, 16]);
  writeSafetensors(noise, { noise: x });
  x.dispose();
  const r = await hgcInProcess(['generate', toy, '-p', 'red circle', '-c', control, '-o', path.join(tmp, 'r.png'), '--noise', noise, '-q']);
  t.equal(r.code, EXIT.RUNTIME);
  t.match(r.stderr, /latents must be \[1, 4, h, w\], got \[1, 3, 16, 16\]/);
});

t.test('help, version, devices', async (t) => {
  let r = hgc(['help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /Exit codes: 0 ok, 1 unexpected failure, 2 usage error, 3 /);
  for (const cmd of ['generate', 'macs', 'bench', 'devices']) {
    r = await hgcInProcess(['help', cmd]);
    t.equal(r.code, 0);
    t.match(r.stdout, new RegExp(`^Usage: hgc ${cmd}`), `help ${cmd}`);
    t.equal((await hgcInProcess([cmd, '--help'])).stdout, r.stdout, `${cmd} --help`);
  }
  r = await hgcInProcess(['--version']);
  t.equal(r.stdout.trim(), JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version);
  r = hgc(['devices']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^cpu {6}available \(\d+ threads/);
  t.match(r.stdout, /\nmeta {5}available/);
  t.match(r.stdout, /\ncuda-sim available\n/);
  const list = JSON.parse(hgc(['devices', '--json']).stdout) as { name: string; available: boolean; reason?: string; threads?: number }[];
  const cuda = list.find((d) => d.name === 'cuda');  // absent from CPU-only builds (node-gyp)
  if (cuda) t.match(r.stdout, cuda.available ? /\ncuda {5}available\n/ : `\ncuda     unavailable: ${cuda.reason}\n`);
  t.same(list.map((d) => d.name), ['cpu', ...(cuda ? ['cuda'] : []), 'cuda-sim', 'meta']);
  t.ok(list.find((d) => d.name === 'cpu')!.available && list.find((d) => d.name === 'cpu')!.threads! >= 1);
});

t.test('macs: table, JSON and the step timeline plot', async (t) => {
  const svg = path.join(tmp, 'timeline.svg');
  let r = hgc(['macs', '--policy', 'hgc', '--policy', 'uncached', '--policy', 'tgate:gateStep=10', '--plot', svg]);
  t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  t.match(r.stdout, /Policy hgc\(.*\): 6\.706 TMACs/);
  t.match(r.stderr, /wrote .*timeline\.svg/);
  const root = parseXml(fs.readFileSync(svg, 'utf8'));
  const texts = allElements(root).filter((e) => e.name === 'text').map((e) => e.text);
  for (const label of ['hgc', 'uncached', 'tgate:gateStep=10', '6.71 TMACs (36.8%)', '18.21 TMACs (100.0%)']) t.ok(texts.includes(label), label);
  t.equal(allElements(root).filter((e) => e.name === 'rect' && e.children[0]?.name === 'title').length, 60, '3 rows × 20 steps');
  r = hgc(['macs', '--steps', '10', '--plot', svg]);
  t.equal(r.code, 0);
  const rows = allElements(parseXml(fs.readFileSync(svg, 'utf8'))).filter((e) => e.name === 'text').map((e) => e.text);
  for (const label of ['uncached', 'deepCache', 'tgate', 'fasterDiffusion', 'hgc']) t.ok(rows.includes(label), `default set: ${label}`);
  r = hgc(['macs', '--plot', path.join(tmp, 'nodir', 'x.svg')]);
  t.equal(r.code, EXIT.INPUT);
  t.match(r.stderr, /cannot write --plot/);
});

t.test('bench: a kernel case and the toy-model step', async (t) => {
  let r = hgc(['bench', '--list']);
  t.equal(r.code, 0);
  t.match(r.stdout, /group_norm\+SiLU 320×64×64/);
  r = hgc(['bench', '--filter', 'group_norm', '--step', '--json']);
  t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  const out = JSON.parse(r.stdout) as { kernels: { name: string; ms: number; gbps: number; ortError?: string }[]; step: { ms: number; gmacs: number; gflops: number } };
  t.equal(out.kernels.length, 1);
  t.ok(out.kernels[0]!.ms > 0 && out.kernels[0]!.gbps > 0, `${out.kernels[0]!.ms.toFixed(2)} ms`);
  t.match(out.kernels[0]!.ortError, /not requested/);
  t.ok(out.step.ms > 0 && out.step.gmacs > 0.35 && out.step.gmacs < 0.45 && out.step.gflops > 0, `toy step ${out.step.ms.toFixed(1)} ms, ${out.step.gmacs.toFixed(3)} GMACs`);
  r = hgc(['bench', '--filter', 'group_norm', '--ort']);
  t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  t.match(r.stdout, /\| group_norm\+SiLU 320×64×64 \| [\d.]+ \| [\d.]+ GB\/s \| [\d.]+% \| ([\d.]+ \| [\d.]+×|- \| -) \|/);
});

t.test('building blocks: progress bar, option readers, exit codes, model location, layouts', async (t) => {
  t.equal(formatSeconds(4.71), '4.7s');
  t.equal(formatSeconds(125), '2m05s');
  t.equal(formatSeconds(NaN), '?');
  let now = 0;
  const lines: string[] = [];
  const plain = new ProgressBar(4, { write: (s: string) => lines.push(s) }, 'step', () => now);
  now = 1000;
  plain.update(1);
  now = 2000;
  plain.update(4);
  plain.finish();
  t.same(lines, ['step 1/4  1.00 steps/s  ETA 3.0s\n', 'step 4/4  2.00 steps/s  done in 2.0s\n']);
  t.equal(plain.done, 4);
  const tty: string[] = [];
  const bar = new ProgressBar(2, { write: (s: string) => tty.push(s), isTTY: true }, 'step', () => now);
  now += 500;
  bar.update(1);
  bar.finish();
  t.match(tty[0], /^\r\[#{12}\.{12}\] step 1\/2 {2}2\.00 steps\/s {2}ETA 0\.5s\x1b\[K$/);
  t.equal(tty[1], '\n');
  t.equal(new ProgressBar(3, { write: () => 0 }, 'step', () => 0).status(0), 'step 0/3  0.00 steps/s  ETA ?');

  const args = parseCommand('x', ['--n', '2.5', '--c', 'b'], { n: { type: 'string' }, c: { type: 'string' }, r: { type: 'string' } });
  t.equal(numberOpt('x', args, 'n', 0), 2.5);
  t.equal(numberOpt('x', args, 'missing', 7), 7);
  t.throws(() => numberOpt('x', args, 'n', 0, { integer: true }), UsageError);
  t.throws(() => numberOpt('x', args, 'n', 0, { max: 2 }), /--n must be a number ≤ 2/);
  t.equal(choiceOpt('x', args, 'c', ['a', 'b'], 'a'), 'b');
  t.throws(() => requiredOpt('x', args, 'r', 'something'), /--r is required \(something\)/);
  t.throws(() => parseCommand('x', ['pos'], {}), /^hgc x: Unexpected argument 'pos'. This command does not take positional arguments$/);

  t.equal(exitCodeFor(new UsageError('u')), 2);
  t.equal(exitCodeFor(new HgcError('IO', 'x')), 3);
  t.equal(exitCodeFor(new HgcError('ARG', 'x')), 2);
  t.equal(exitCodeFor(new HgcError('SHAPE', 'x')), 4);
  t.equal(exitCodeFor(new Error('bug')), 1);

  // Model location: $HGC_MODELS, then the package's models/, then ../shared/fixtures beside the checkout.
  t.equal(locateModels({ HGC_MODELS: FIXTURES }).source, 'HGC_MODELS');
  t.throws(() => locateModels({ HGC_MODELS: tmp }), { name: 'HgcError', code: 'IO', message: /HGC_MODELS=.*: not a models folder \(missing toy-controlnet\/unet\/config.json/ });
  const pkg = path.join(tmp, 'pkg');
  fs.mkdirSync(path.join(pkg, 'models'), { recursive: true });
  t.throws(() => locateModels({}, pkg), { name: 'HgcError', code: 'IO', message: /bundled models were not found\. Looked in: \$HGC_MODELS \(not set\)/ });
  fs.symlinkSync(path.join(FIXTURES, 'toy-controlnet'), path.join(pkg, 'models', 'toy-controlnet'));
  fs.symlinkSync(path.join(FIXTURES, 'taesd'), path.join(pkg, 'models', 'taesd'));
  const found = locateModels({}, pkg);
  t.same([found.source, found.toy], ['package', path.join(pkg, 'models', 'toy-controlnet')]);
  t.equal(locateModels({}).source, fs.existsSync(path.join(__dirname, '..', 'models')) ? 'package' : 'checkout');
  t.same(missingModelFiles(FIXTURES), []);
  // Without any models, generate on the toy layout still works when given --vae; a TAESD lookup fails clearly.
  const r = hgc(['generate', toy, '-p', 'red circle', '-c', control, '-o', path.join(tmp, 'x.png'), '--preview-every', '5', '--taesd', tmp]);
  t.equal(r.code, EXIT.INPUT);
  t.match(r.stderr, /TAESD folder .*found neither taesd_encoder/);

  t.equal(detectLayout(toy), 'toy');
  t.same(schedulerSettings(toyPath('scheduler', 'scheduler_config.json')), {
    numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', timestepSpacing: 'linspace', stepsOffset: 1, finalSigmasType: 'zero',
  });
  t.same(schedulerSettings(path.join(tmp, 'none.json')), {});
  t.same(schedulerSettings(path.join(FIXTURES, 'sd15-configs', 'scheduler', 'scheduler_config.json')),
    { numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', stepsOffset: 1 }, 'SD1.5 (PNDM config): spacing left to the scheduler');
});
