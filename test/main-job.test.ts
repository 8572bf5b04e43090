// The README's first command after npm install (`npm run main`), with one case to stay fast: images per policy,
// the table, both charts, and the pointer to real checkpoints; and the message when no bundled models are found.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';

import { readPng } from '../dist/src/index.js';
import { ROOT } from './helpers/cli';
import { allElements, parseXml } from './helpers/xml';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-main-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const main = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [path.join(ROOT, 'dist/examples/main.js'), ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, ...env } });

t.test('npm run main: one image per policy, the table, the charts', async (t) => {
  const r = main(['--cases', '1', '--out', 'out']);
  t.equal(r.status, 0, r.status === 0 ? 'exit 0' : r.stderr);
  for (const policy of ['uncached', 'deepCache', 'tgate', 'fasterDiffusion', 'hgc']) {
    const img = readPng(path.join(tmp, 'out', policy, 'case_000.png'));
    t.same(img.shape, [1, 3, 128, 128], `${policy}/case_000.png`);
    img.dispose();
    t.match(r.stdout, new RegExp(`\\n\\| ${policy} \\| [\\d.]+ \\| [\\d.]+% \\| [\\d.]+ \\(\\d+%\\) \\| \\d+ \\| [\\d.]+× \\| [\\d.]+ \\| [\\d.]+ \\| (identical|[\\d.]+ dB) \\|`), `${policy} row`);
  }
  t.match(r.stdout, /\| uncached \| 6\.95 \| 0\.0% \| 18\.21 \(100%\) \|/, 'uncached: 6.95 GMACs per toy image, 18.21 T for SD1.5');
  t.match(r.stdout, /\| hgc \| 2\.49 \| 64\.2% \| 6\.71 \(37%\) \|/, 'hgc: 64.2% of the toy MACs saved, 6.71 T for SD1.5');
  t.match(r.stdout, /hgc generate \/models\/stable-diffusion-v1-5 --controlnet/, 'points at real checkpoints');
  const q = allElements(parseXml(fs.readFileSync(path.join(tmp, 'out', 'quality-vs-macs.svg'), 'utf8')));
  t.ok(['uncached', 'deepCache', 'tgate', 'fasterDiffusion', 'hgc'].every((p) => q.some((e) => e.name === 'text' && e.text === p)), 'quality chart legend');
  const tl = allElements(parseXml(fs.readFileSync(path.join(tmp, 'out', 'timeline.svg'), 'utf8')));
  t.equal(tl.filter((e) => e.name === 'rect' && e.children[0]?.name === 'title').length, 100, 'timeline: 5 policies × 20 steps');
});

t.test('npm run main without models says where it looked', async (t) => {
  const r = main([], { HGC_MODELS: tmp });
  t.equal(r.status, 3);
  t.match(r.stderr, /HGC_MODELS=.*: not a models folder/);
  const bad = main(['--cases', '0']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--cases must be an integer in 1\.\.64/);
});
