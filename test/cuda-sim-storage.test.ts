// The storage kernels of cuda/storage_kernels.cu (fill, Philox randn, dtype casts) run on cuda-sim and agree
// with the CPU backend bit for bit, including NaN, infinities, subnormals, rounding ties and sizes that need
// the grid-stride loop. Also: the devices() op lists and the cuda-sim device info.
import t from 'tap';

import { devices, full, randn, tensor, type DType, type Tensor } from '../dist/src/index.js';

const bits = (x: Tensor): number[] => {
  const d = x.data();
  return Array.from(d instanceof Float32Array ? new Uint32Array(d.buffer, d.byteOffset, d.length) : d);
};

t.test('devices(): cuda-sim is always available and lists the ops it implements', async (t) => {
  const ds = devices();
  t.same(ds.map((d) => d.name), ['cpu', 'cuda', 'cuda-sim', 'meta']);
  const sim = ds.find((d) => d.name === 'cuda-sim')!;
  t.ok(sim.available);
  for (const op of ['fill', 'randn', 'cast']) t.ok(sim.ops.includes(op), `cuda-sim implements ${op}`);
  const cuda = ds.find((d) => d.name === 'cuda')!;
  if (!/built without CUDA/.test(cuda.reason ?? '')) t.same(cuda.ops, sim.ops, 'cuda and cuda-sim are built from the same backend file');
  else t.same(cuda.ops, [], 'no nvcc at build time: the cuda stub implements nothing');
  t.equal(ds.find((d) => d.name === 'cpu')!.ops.length, 16, 'cpu implements every op');
});

// Values that exercise the conversions: zeros, infinities, NaNs with payloads, f16 overflow and subnormals,
// exact ties of both formats, and random values.
const special = new Float32Array([
  0, -0, 1, -1, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 1e6, -1e6, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-10,
  1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, -1.17e-38, 0.1, -0.3333,
]);
{
  const u = new Uint32Array(special.buffer);
  u[6] = 0x7fa12345;  // a signalling NaN with a payload
}

t.test('fill on cuda-sim equals cpu for every dtype', async (t) => {
  for (const dtype of ['f32', 'f16', 'bf16'] as DType[]) {
    for (const value of special) {
      const a = full([37], value, { dtype, device: 'cpu' }), b = full([37], value, { dtype, device: 'cuda-sim' });
      if (bits(a).join() !== bits(b).join()) t.fail(`${dtype} fill ${value}`);
    }
    t.pass(`${dtype}: ${special.length} values`);
  }
  // More elements than one grid covers (65535 blocks of 256 threads): the grid-stride loop.
  const n = 65535 * 256 + 1001;
  const a = full([n], 0.1, { dtype: 'f16', device: 'cuda-sim' }).data() as Uint16Array;
  t.ok(a.every((v) => v === 0x2e66), `${n} elements all set`);
});

t.test('randn on cuda-sim equals cpu for every dtype and awkward sizes', async (t) => {
  for (const dtype of ['f32', 'f16', 'bf16'] as DType[]) for (const n of [1, 255, 257, 4099]) {
    const a = randn([n], { seed: 1234, dtype, device: 'cpu' }), b = randn([n], { seed: 1234, dtype, device: 'cuda-sim' });
    t.same(bits(b), bits(a), `${dtype} n=${n}`);
  }
});

t.test('cast on cuda-sim equals cpu between every pair of dtypes', async (t) => {
  const values = new Float32Array(special.length + 300);
  values.set(special);
  for (let i = special.length; i < values.length; i++) values[i] = Math.sin(i * 12.9898) * 10 ** ((i % 13) - 6);
  for (const from of ['f32', 'f16', 'bf16'] as DType[]) for (const to of ['f32', 'f16', 'bf16'] as DType[]) {
    const src = (device: 'cpu' | 'cuda-sim') => {
      const x = tensor(values, [values.length], { device });
      return from === 'f32' ? x : x.cast(from);
    };
    const a = src('cpu').cast(to), b = src('cuda-sim').cast(to);
    t.same(bits(b), bits(a), `${from} → ${to}`);
  }
});
