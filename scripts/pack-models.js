// prepack: copies the small trained models hgc ships (the toy SD1.5-architecture UNet + ControlNet with its text
// encoder, scheduler config and evaluation set, and TAESD) from ../shared/fixtures (or $HGC_MODELS_SOURCE) into
// models/, with their README / SOURCE files, so that a packed or published package carries them ("files" lists
// models/; .gitignore keeps them out of git). TAESD's weights are checked against the sha256 in its SOURCE.txt.
// On `npm pack` / `npm publish` a missing source is an error (the package would be incomplete); in any other
// context (e.g. installing hgc as a git dependency) it is a warning.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const source = path.resolve(process.env.HGC_MODELS_SOURCE || path.join(root, '..', 'shared', 'fixtures'));
const dest = path.join(root, 'models');
const strict = ['pack', 'publish'].includes(process.env.npm_command) || process.argv.includes('--strict');

const FILES = {
  'toy-controlnet': [
    'README.md', 'unet/config.json', 'unet/diffusion_pytorch_model.safetensors', 'controlnet/config.json',
    'controlnet/diffusion_pytorch_model.safetensors', 'text/vocab.json', 'text/toy_text_encoder.safetensors',
    'scheduler/scheduler_config.json', 'eval/cases.json', 'eval/noise.safetensors',
  ],
  taesd: ['SOURCE.txt', 'config.json', 'taesd_encoder.safetensors', 'taesd_decoder.safetensors'],
};

function fail(msg) {
  if (strict) {
    console.error(`pack-models: ${msg}`);
    process.exit(1);
  }
  console.warn(`pack-models: warning: ${msg}; models/ not filled (hgc then looks for $HGC_MODELS or ../shared/fixtures)`);
  process.exit(0);
}

const missing = Object.entries(FILES).flatMap(([dir, files]) => files.map((f) => path.join(dir, f)))
  .filter((f) => !fs.existsSync(path.join(source, f)));
if (missing.length > 0) fail(`${source} lacks ${missing.join(', ')} (set HGC_MODELS_SOURCE to the fixtures folder)`);

// The evaluation set: every case's control and mask image.
const evalDir = path.join(source, 'toy-controlnet', 'eval');
FILES['toy-controlnet'].push(...fs.readdirSync(evalDir).filter((f) => /^case_\d+_(control|mask)\.png$/.test(f)).sort().map((f) => `eval/${f}`));

// TAESD: verify the weights against SOURCE.txt's sha256 lines before shipping them.
const sourceTxt = fs.readFileSync(path.join(source, 'taesd', 'SOURCE.txt'), 'utf8');
for (const file of ['taesd_encoder.safetensors', 'taesd_decoder.safetensors']) {
  const m = new RegExp(`${file.replace('.', '\\.')}[^\\n]*\\n\\s*sha256 ([0-9a-f]{64})`).exec(sourceTxt);
  const actual = crypto.createHash('sha256').update(fs.readFileSync(path.join(source, 'taesd', file))).digest('hex');
  if (!m) fail(`taesd/SOURCE.txt gives no sha256 for ${file}`);
  if (m[1] !== actual) fail(`taesd/${file}: sha256 ${actual} does not match SOURCE.txt (${m[1]})`);
}

fs.rmSync(dest, { recursive: true, force: true });
let bytes = 0, count = 0;
for (const [dir, files] of Object.entries(FILES)) {
  for (const f of files) {
    const to = path.join(dest, dir, f);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(source, dir, f), to);
    bytes += fs.statSync(to).size;
    count++;
  }
}
fs.writeFileSync(path.join(dest, 'README.md'), `# Models shipped with hgc

Copied from the hgc project's fixtures by scripts/pack-models.js when the package was packed; not in git.

- \`toy-controlnet/\`: a small SD1.5-architecture UNet + ControlNet trained for the hgc project on synthetic
  shapes with segmentation-mask control, its toy text encoder, scheduler config and 64-case evaluation set.
  Its README.md describes the model, its training, the evaluation protocol (mIoU) and its limits.
- \`taesd/\`: TAESD, the tiny autoencoder for SD 1.x latents by Ollin Boer Bohan (github.com/madebyollin/taesd),
  MIT licence; SOURCE.txt says where these weight files come from and gives their sha256 (checked when packing).

\`npm run main\` and \`hgc generate\` find this folder automatically (or set HGC_MODELS to another copy).
`);
console.log(`pack-models: copied ${count} files (${(bytes / 2 ** 20).toFixed(1)} MiB) from ${source} to ${dest}`);
