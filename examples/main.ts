// The main job until the pipeline lands: shows the devices, runs a small SD-shaped computation on the CPU
// (a ResNet-style conv + group norm + cross-attention), and counts its MACs on the meta device at full size.
import { countMacs, devices, memory, numThreads, ops, randn, tidy } from '../src/index.js';

function block(device: 'cpu' | 'meta', channels: number, size: number, tokens: number) {
  const opts = { device, seed: 1 } as const;
  const x = randn([1, channels, size, size], opts);
  const w = randn([channels, channels, 3, 3], opts);
  const text = randn([1, tokens, 768], opts);
  const wk = randn([channels, 768], opts), wq = randn([channels, channels], opts);
  const h = ops.groupNorm(x, 32, { silu: true });
  const y = ops.conv2d(h, w, { padding: 1, residual: x });
  const q = ops.linear(ops.nchwToTokens(y), wq);
  const kv = ops.linear(text, wk);
  return ops.attention(q, kv, kv, { heads: 8 });
}

console.log('hgc devices:');
for (const d of devices()) console.log(`  ${d.name.padEnd(5)} ${d.available ? 'available' : `unavailable (${d.reason})`}`);
console.log(`CPU threads: ${numThreads()}`);

const start = process.hrtime.bigint();
const out = tidy(() => block('cpu', 320, 32, 77));
const ms = Number(process.hrtime.bigint() - start) / 1e6;
console.log(`\nGroupNorm+SiLU → conv3x3 (+skip) → cross-attention at 320×32×32: ${out.shape.join('×')} in ${ms.toFixed(1)} ms`);
out.dispose();

const { counter } = countMacs(() => block('meta', 320, 64, 77));
console.log(`The same block at SD1.5's 64×64 latent, traced on the meta device: ${(counter.total('modules') / 1e9).toFixed(3)} GMACs ` +
  `(modules convention), ${(counter.total('all') / 1e9).toFixed(3)} GMACs counting attention products`);
const m = memory();
console.log(`\nLive tensors: ${m.liveTensors}; CPU pool: ${(m.pools.cpu!.bytesCached / 2 ** 20).toFixed(1)} MiB cached for reuse`);

