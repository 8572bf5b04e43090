// generate(): prompt + control image → image, end to end on the trained toy model with TAESD, against the
// golden image of the reference implementation.
import t from 'tap';

import { SafetensorsFile, cache, generate, loadTaesd, models } from '../dist/src/index.js';
import { FIXTURES, closeness } from './helpers/golden';
import { toyModels, toyPath } from './helpers/toy';

t.test('toy model: prompt → image matches the golden image', async (t) => {
  const { unet, controlnet } = toyModels();
  const textEncoder = new models.ToyTextEncoder(toyPath('text'));
  const vae = loadTaesd(`${FIXTURES}/taesd`, { parts: 'decoder' });
  const g = SafetensorsFile.open(toyPath('golden', 'case_000.safetensors'));
  const prompt = g.metadata().prompt!;
  const { image, latents } = generate({
    unet, controls: [{ model: controlnet, image: toyPath('eval', 'case_000_control.png') }], textEncoder, vae, prompt,
    latents: g.load('noise'), steps: 20, guidance: 7.5, scheduler: 'unipc', schedulerConfig: { finalSigmasType: 'zero' },
  });
  t.same(image.shape, [1, 3, 128, 128]);
  const c = closeness(image.toFloat32(), g.load('image').toFloat32(), 1e-3, 1e-3);
  t.ok(c.ratio <= 1, `image within 1e-3 of the golden (max abs diff ${c.maxAbs.toExponential(2)})`);
  const d = image.toFloat32();
  t.ok(d.every((v) => v >= 0 && v <= 1), 'clamped to [0, 1]');
  const cached = generate({ unet, controls: [{ model: controlnet, image: g.load('control') }], textEncoder, vae, prompt, latents: g.load('noise'), policy: cache.hgc() });
  t.same(cached.image.shape, [1, 3, 128, 128], 'with a cache policy');
  t.throws(() => generate({ unet, textEncoder, vae, prompt: 5 as unknown as string }), { name: 'HgcError', code: 'ARG' });
  t.throws(() => generate({ unet, textEncoder, vae, prompt: 'red unicorn' }), { name: 'HgcError', code: 'ARG' });
  for (const x of [image, latents, cached.image, cached.latents]) x.dispose();
  g.close();
});
