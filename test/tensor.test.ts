// Foundation: creation, round trips, dtype conversions, randn, disposal, scopes, memory, devices, meta.
import t from 'tap';

import {
  MacCounter, bf16BitsToF32, countMacs, devices, macScope, ops, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, full, keep, memory, ones, randn,
  tensor, tidy, zeros,
} from '../dist/src/index.js';
import { randomArray, testDevices } from './helpers/reference';

const code = (c: string) => ({ name: 'HgcError', code: c });

t.test('devices: cpu available, cuda listed with a reason when absent, meta always', async (t) => {
  const ds = devices();
  t.ok(ds.find((d) => d.name === 'cpu')?.available);
  const cuda = ds.find((d) => d.name === 'cuda');
  t.ok(cuda, 'cuda is listed');
  if (cuda && !cuda.available) t.match(cuda.reason, /\S/, 'unavailable cuda says why');
  t.ok(ds.find((d) => d.name === 'meta')?.available);
});

for (const device of testDevices('fill', 'randn', 'cast')) {
  t.test(`round trips on ${device}`, async (t) => {
    const values = randomArray(37, 1, 10);
    const a = tensor(values, [37], { device: device as 'cpu' });
    t.same(Array.from(a.data()), Array.from(values));
    t.equal(a.size, 37);
    t.equal(a.device, device);
    const back = a.to('cpu');
    t.same(Array.from(back.data()), Array.from(values));
    const z = zeros([2, 3], { device: device as 'cpu' });
    t.same(Array.from(z.data()), [0, 0, 0, 0, 0, 0]);
    const o = ones([4], { dtype: 'f16', device: device as 'cpu' });
    t.same(Array.from(o.data()), [0x3c00, 0x3c00, 0x3c00, 0x3c00]);
    const f = full([2], 2.5, { dtype: 'bf16', device: device as 'cpu' });
    t.same(Array.from(f.toFloat32()), [2.5, 2.5]);
    const empty = tensor([], [0, 3], { device: device as 'cpu' });
    t.equal(empty.data().length, 0);
    for (const x of [a, back, z, o, f, empty]) x.dispose();
  });

  t.test(`randn on ${device}: deterministic, prefix-stable, standard normal`, async (t) => {
    const a = randn([100000], { seed: 7, device: device as 'cpu' }).data() as Float32Array;
    const b = randn([100000], { seed: 7, device: device as 'cpu' }).data() as Float32Array;
    const small = randn([10], { seed: 7, device: device as 'cpu' }).data() as Float32Array;
    const other = randn([10], { seed: 8, device: device as 'cpu' }).data() as Float32Array;
    t.same(Array.from(a.slice(0, 1000)), Array.from(b.slice(0, 1000)), 'same seed, same numbers');
    t.same(Array.from(small), Array.from(a.slice(0, 10)), 'element i does not depend on the size');
    t.notSame(Array.from(other), Array.from(small), 'another seed, other numbers');
    let mean = 0, sq = 0;
    for (const v of a) { mean += v; sq += v * v; }
    mean /= a.length;
    const variance = sq / a.length - mean * mean;
    t.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    t.ok(Math.abs(variance - 1) < 0.02, `variance ${variance}`);
    const big = randn([3], { seed: 2n ** 63n, device: device as 'cpu' });
    t.equal(big.size, 3);
  });

  t.test(`casts on ${device} agree with the TypeScript conversions`, async (t) => {
    const special = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e30, -1e30, Infinity, -Infinity, NaN,
      3.14159, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 6.1e-5, 3.4e38];
    const values = Float32Array.from([...special, ...randomArray(2000, 3, 1000), ...randomArray(2000, 4, 1e-4)]);
    const x = tensor(values, [values.length], { device: device as 'cpu' });
    const h = x.cast('f16').data() as Uint16Array;
    const bf = x.cast('bf16').data() as Uint16Array;
    for (let i = 0; i < values.length; i++) {
      if (h[i] !== f32ToF16Bits(values[i]!)) { t.fail(`f16 of ${values[i]}: native ${h[i]} vs ts ${f32ToF16Bits(values[i]!)}`); break; }
      if (bf[i] !== f32ToBf16Bits(values[i]!)) { t.fail(`bf16 of ${values[i]}: native ${bf[i]} vs ts ${f32ToBf16Bits(values[i]!)}`); break; }
    }
    t.ok(Number.isNaN(f16BitsToF32(h[special.findIndex(Number.isNaN)]!)), 'NaN stays NaN in f16');
    t.equal(f16BitsToF32(h[special.indexOf(Infinity)]!), Infinity);
    t.equal(f16BitsToF32(h[special.indexOf(65520)]!), Infinity, '65520 rounds to inf');
    t.equal(f16BitsToF32(h[special.indexOf(65519.99)]!), 65504);
    t.equal(f16BitsToF32(h[special.indexOf(2 ** -25)]!), 0, 'half the smallest subnormal ties to even (0)');
    t.equal(f16BitsToF32(h[special.indexOf(3 * 2 ** -26)]!), 2 ** -24);
    t.equal(f16BitsToF32(h[special.indexOf(1 + 2 ** -11)]!), 1, 'tie rounds to even');
    t.equal(f16BitsToF32(h[special.indexOf(1 + 3 * 2 ** -11)]!), 1 + 2 ** -9, 'tie rounds to even (up)');
    t.equal(bf16BitsToF32(bf[special.indexOf(1 + 2 ** -8)]!), 1);
    t.equal(bf16BitsToF32(bf[special.indexOf(1 + 3 * 2 ** -8)]!), 1 + 2 ** -6);
    t.ok(Number.isNaN(bf16BitsToF32(bf[special.findIndex(Number.isNaN)]!)));
    // f16 → f32 → f16 is the identity on every non-NaN pattern.
    const all = new Uint16Array(65536).map((_, i) => i);
    const asF16 = tensor(all, [65536], { dtype: 'f16', device: device as 'cpu' });
    const widened = asF16.cast('f32').data() as Float32Array;
    for (let i = 0; i < 65536; i++) {
      const v = f16BitsToF32(i);
      if (Number.isNaN(v)) { if (!Number.isNaN(widened[i])) { t.fail(`pattern ${i} lost NaN`); break; } continue; }
      if (widened[i] !== v) { t.fail(`pattern ${i}: ${widened[i]} vs ${v}`); break; }
    }
    const narrowed = asF16.cast('f32').cast('f16').data() as Uint16Array;
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (!Number.isNaN(f16BitsToF32(i)) && narrowed[i] !== i) mismatches++;
    t.equal(mismatches, 0, 'f16 round trip is exact');
  });
}

t.test('TypeScript f16 rounding matches the definition (nearest, ties to even)', async (t) => {
  const values = randomArray(20000, 9, 70000);
  for (const v of values) {
    const bits = f32ToF16Bits(v);
    if (Math.abs(v) >= 65520) { if (Math.abs(f16BitsToF32(bits)) !== Infinity) { t.fail(`${v} should overflow to inf`); return; } continue; }
    const got = f16BitsToF32(bits);
    // Neighbours of the chosen value must not be closer.
    for (const nb of [bits - 1, bits + 1]) {
      if ((nb & 0x7c00) === 0x7c00) continue;
      const alt = f16BitsToF32(nb & 0xffff);
      if (Math.abs(alt - v) < Math.abs(got - v)) { t.fail(`${v}: ${got} chosen, ${alt} closer`); return; }
    }
  }
  t.pass('20000 values rounded to the nearest f16');
});

t.test('dispose, use after dispose, views', async (t) => {
  const before = memory().liveTensors;
  const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const v = a.reshape([3, -1]);
  t.same(v.shape, [3, 2]);
  t.equal(memory().liveTensors, before + 2);
  a.dispose();
  t.ok(a.disposed);
  a.dispose(); // idempotent
  t.same(Array.from(v.data()), [1, 2, 3, 4, 5, 6], 'a view keeps the shared storage alive');
  t.throws(() => a.data(), code('DISPOSED'));
  t.throws(() => a.to('cpu'), code('DISPOSED'));
  t.throws(() => a.cast('f16'), code('DISPOSED'));
  t.throws(() => a.reshape([6]), code('DISPOSED'));
  v.dispose();
  t.equal(memory().liveTensors, before);
  t.throws(() => tensor([1, 2], [3]), code('SHAPE'));
  t.throws(() => v.reshape([4]), code('DISPOSED'));
  const b = tensor([1, 2, 3, 4], [4]);
  t.throws(() => b.reshape([3]), code('SHAPE'));
  t.throws(() => b.reshape([-1, -1]), code('SHAPE'));
  b.dispose();
});

t.test('tidy disposes intermediates and keeps results', async (t) => {
  const before = memory().liveTensors;
  let inner: ReturnType<typeof zeros> | undefined;
  let kept: ReturnType<typeof zeros> | undefined;
  const result = tidy(() => {
    inner = zeros([10]);
    kept = keep(ones([2]));
    const nested = tidy(() => ({ x: ones([3]), list: [zeros([1])] }));
    nested.list[0]!.dispose();
    return nested.x;
  });
  t.ok(inner!.disposed, 'intermediate disposed');
  t.notOk(result.disposed, 'result survives');
  t.notOk(kept!.disposed, 'kept survives');
  result.dispose();
  kept!.dispose();
  t.equal(memory().liveTensors, before);
  t.throws(() => tidy(() => { zeros([4]); throw new Error('boom'); }), /boom/);
  t.equal(memory().liveTensors, before, 'tensors of a throwing scope are disposed');
});

t.test('memory statistics and the caching allocator', async (t) => {
  const m0 = memory();
  t.type(m0.pools.cpu?.bytesInUse, 'number');
  const a = zeros([1000]);
  const m1 = memory();
  t.ok(m1.liveBytes >= m0.liveBytes + 4000);
  a.dispose();
  const hitsBefore = memory().pools.cpu!.cacheHits;
  const b = zeros([1000]);
  t.ok(memory().pools.cpu!.cacheHits > hitsBefore, 'a freed block is reused');
  b.dispose();
});

t.test('meta tensors have shapes but no data', async (t) => {
  const m = zeros([2, 3], { device: 'meta', dtype: 'f16' });
  t.same(m.shape, [2, 3]);
  t.equal(m.dtype, 'f16');
  t.throws(() => m.data(), code('DEVICE'));
  t.equal(m.reshape([6]).device, 'meta');
  t.equal(m.cast('f32').dtype, 'f32');
  t.throws(() => m.to('cpu'), code('DEVICE'));
  t.equal(tensor([1, 2], [2]).to('meta').device, 'meta');
  t.equal(randn([5], { device: 'meta' }).size, 5);
});

t.test('bad arguments give HgcError with a code', async (t) => {
  t.throws(() => zeros([2, -1]), code('SHAPE'));
  t.throws(() => zeros([1.5]), code('SHAPE'));
  t.throws(() => zeros('nope' as unknown as number[]), code('SHAPE'));
  t.throws(() => zeros([1, 1, 1, 1, 1, 1, 1, 1, 1]), code('SHAPE'));
  t.throws(() => zeros([2], { dtype: 'f64' as 'f32' }), code('DTYPE'));
  t.throws(() => zeros([2], { device: 'tpu' as 'cpu' }), code('DEVICE'));
  const cuda = devices().find((d) => d.name === 'cuda');
  if (cuda && !cuda.available) t.throws(() => zeros([2], { device: 'cuda' }), code('DEVICE'));
  t.throws(() => randn([2], { seed: -1 }), code('ARG'));
  t.throws(() => randn([2], { seed: 0.5 }), code('ARG'));
  t.throws(() => full([2], 'x' as unknown as number), code('ARG'));
  t.throws(() => tensor(null as unknown as number[], [1]), code('ARG'));
  t.throws(() => tensor([1, 2], [2]).cast('f8' as 'f16'), code('DTYPE'));
  t.throws(() => zeros([2 ** 30, 2 ** 30]), { name: 'HgcError', code: /^(OOM|SHAPE)$/ });
  const err = (() => { try { zeros([-3]); } catch (e) { return e as HgcError; } return undefined; })();
  t.match(err?.message, /-3/, 'message names the offending value');
});

t.test('scopes and counters reject bad arguments', async (t) => {
  t.throws(() => tidy(5 as unknown as () => void), code('ARG'));
  t.throws(() => keep({} as ReturnType<typeof zeros>), code('ARG'));
  t.throws(() => countMacs(null as unknown as () => void), code('ARG'));
  t.throws(() => countMacs(() => 1, {} as MacCounter), code('ARG'));
  t.throws(() => macScope(3 as unknown as string, () => 1), code('ARG'));
  const { counter } = countMacs(() => macScope('down', () => macScope('conv', () => ops.linear(zeros([2, 4], { device: 'meta' }), zeros([3, 4], { device: 'meta' })))));
  t.equal(counter.records[0]?.path, 'down.conv');
  t.equal(counter.groupBy((r) => r.path.split('.')[0]!).get('down'), 24);
});
