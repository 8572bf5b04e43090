// CUDA graphs on every CUDA device of this build (cuda-sim always; cuda with a GPU): stream capture records
// launches and device copies without running them, replays run them (again and again, with whatever the inputs
// hold then), calls a capture forbids fail it cleanly (HgcError CUDA, graph 'failed', device still usable), the
// private memory pool lives exactly as long as the graph and its tensors, and StepGraphs serves warm-up, capture,
// replay and eager fallback with the eager results.
import t from 'tap';

import { CudaGraph, StepGraphs, type Tensor, full, graphsSupported, memory, ops, randn, tensor, tidy } from '../dist/src/index.js';
import { native } from '../dist/src/native.js';
import { testDevices } from './helpers/reference';

const graphDevices = testDevices('binary', 'unary', 'fill', 'reduce').filter((d) => d === 'cuda' || d === 'cuda-sim');
const code = (c: string) => ({ name: 'HgcError', code: c });
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

t.test('graphsSupported and devices without graphs', async (t) => {
  t.equal(graphsSupported('cpu'), false);
  t.equal(graphsSupported('meta'), false);
  t.equal(graphsSupported('cuda-sim'), true);
  t.throws(() => new CudaGraph('cpu'), code('DEVICE'));
  t.throws(() => new native.Graph('cpu'), code('DEVICE'));
  const g = new StepGraphs('cpu');
  t.equal(g.enabled, false);
  const a = tensor([1, 2, 3], [3]);
  const [y] = g.run('k', [a], ([x]) => [ops.scale(x!, 2)]);
  t.same(Array.from(y!.toFloat32()), [2, 4, 6], 'cpu: every call runs eagerly');
  t.same(g.stats().eager, 1);
  g.dispose();
  t.throws(() => g.run('k', [a], ([x]) => [x!]), code('DISPOSED'));
  t.throws(() => new StepGraphs('cuda-sim', { maxGraphs: -1 }), code('ARG'));
  t.throws(() => new StepGraphs('cuda-sim', { warmup: 1.5 }), code('ARG'));
  a.dispose();
  y!.dispose();
});

for (const device of graphDevices) {
  t.test(`${device}: capture records, launch runs, replays see the current inputs`, async (t) => {
    const a = randn([5, 37], { seed: 3, device });
    const dst = full([5, 37], 0, { device });
    const g = new CudaGraph(device);
    t.equal(g.state, 'idle');
    g.capture(() => tidy(() => {
      native.copyInto(dst.handle, ops.add(ops.scale(a, 2), ops.tanh(a)).handle);
      return undefined;
    }));
    t.equal(g.state, 'ready');
    t.ok(g.poolBytes > 0, 'the temporaries came from the private pool');
    t.ok(dst.toFloat32().every((v) => v === 0), 'nothing ran during the capture');
    const expect = tidy(() => ops.add(ops.scale(a, 2), ops.tanh(a)).toFloat32());
    g.launch();
    t.ok(same(dst.toFloat32(), expect), 'the launch computes what the captured code would have');
    native.copyInto(dst.handle, full([5, 37], 0, { device }).handle);
    g.launch();
    t.ok(same(dst.toFloat32(), expect), 'a second launch gives the same bits');
    // New input values, same memory: the replay reads them.
    const b = randn([5, 37], { seed: 4, device });
    native.copyInto(a.handle, b.handle);
    g.launch();
    const expect2 = tidy(() => ops.add(ops.scale(b, 2), ops.tanh(b)).toFloat32());
    t.ok(same(dst.toFloat32(), expect2), 'the replay used the new input values');
    t.equal(g.launches, 3);
    t.throws(() => g.capture(() => 0), code('ARG'), 'a graph captures once');
    g.dispose();
    t.equal(g.state, 'destroyed');
    t.throws(() => g.launch(), code('ARG'));
    for (const x of [a, b, dst]) x.dispose();
  });

  t.test(`${device}: calls a capture forbids fail it cleanly`, async (t) => {
    const a = randn([64], { seed: 5, device });
    const cases: [string, () => unknown, RegExp][] = [
      ['a read-back to the host', () => tidy(() => ops.scale(a, 3).toFloat32()), /copy to host: cudaErrorStreamCapture(Unsupported|Implicit)/],
      ['a reduction (its result is read back)', () => ops.relativeL1(a, a), /cudaErrorStreamCapture/],
      ['a tensor from host data', () => tensor([1, 2], [2], { device }).dispose(), /copy to device: cudaErrorStreamCapture(Unsupported|Implicit)/],
    ];
    for (const [what, fn, message] of cases) {
      const before = memory().pools[device]!;
      const g = new CudaGraph(device);
      t.throws(() => g.capture(fn), { name: 'HgcError', code: 'CUDA', message }, what);
      t.equal(g.state, 'failed', `${what}: the graph is failed`);
      t.throws(() => g.launch(), code('ARG'));
      g.dispose();
      const after = memory().pools[device]!;
      t.equal(after.graphPools, before.graphPools, `${what}: the private pool is gone`);
      t.equal(after.bytesInGraphPools, before.bytesInGraphPools);
      // The device is usable again, eagerly and for new captures.
      t.same(Array.from(tidy(() => ops.scale(a, 0).toFloat32())).every((v) => v === 0), true, `${what}: eager work runs`);
    }
    const g = new CudaGraph(device);
    t.throws(() => g.capture(() => {
      throw new Error('bug in the captured code');
    }), { message: 'bug in the captured code' }, "the captured code's own errors come through");
    t.equal(g.state, 'failed');
    const inner = new CudaGraph(device);
    const outer = new CudaGraph(device);
    t.throws(() => outer.capture(() => inner.capture(() => 0)), code('ARG'), 'one capture at a time per device');
    t.equal(inner.state, 'idle', 'the refused capture never started');
    for (const x of [g, inner, outer]) x.dispose();
    a.dispose();
  });

  t.test(`${device}: the private pool lives as long as the graph and its tensors`, async (t) => {
    const base = memory().pools[device]!;
    const live = memory().liveStorages;
    const a = randn([300, 301], { seed: 6, device });  // > 1 MiB: a large size class
    const inUse = memory().pools[device]!.bytesInUse;
    const g = new CudaGraph(device);
    const out = g.capture(() => tidy(() => ops.gelu(ops.add(ops.scale(a, 0.5), a))));
    let m = memory().pools[device]!;
    t.equal(m.graphPools, base.graphPools + 1);
    t.ok(m.bytesInGraphPools >= 2 * 300 * 301 * 4, 'the pool holds the temporaries and the output');
    t.equal(m.bytesInUse, inUse, 'every allocation of the capture came from the pool');
    g.launch();
    const expect = tidy(() => ops.gelu(ops.add(ops.scale(a, 0.5), a)).toFloat32());
    t.ok(same(out.toFloat32(), expect));
    g.dispose();
    m = memory().pools[device]!;
    t.equal(m.graphPools, base.graphPools + 1, 'the output tensor still uses the pool');
    t.ok(same(out.toFloat32(), expect), 'and its data stays valid');
    out.dispose();
    m = memory().pools[device]!;
    t.equal(m.graphPools, base.graphPools, 'the last tensor gone: the pool is freed');
    t.equal(m.bytesInGraphPools, base.bytesInGraphPools);
    a.dispose();
    t.equal(memory().liveStorages, live);
  });

  t.test(`${device}: StepGraphs warm-up, capture, replay, limits and eager fallback`, async (t) => {
    const base = memory().pools[device]!;
    const fn = ([x, y]: readonly Tensor[]): Tensor[] => {
      const s = ops.add(ops.mul(x!, y!), ops.silu(x!));
      return [s, ops.scale(s, 0.25)];
    };
    const inputs = (seed: number) => [randn([3, 50], { seed, device }), randn([3, 50], { seed: seed + 100, device })];
    const eager = (xs: Tensor[]) => tidy(() => fn(xs).map((o) => o.toFloat32()));
    const g = new StepGraphs(device, { maxGraphs: 2 });
    t.equal(g.enabled, true);
    for (let step = 0; step < 4; step++) {
      const xs = inputs(step);
      const want = eager(xs);
      const got = g.run('plan A', xs, fn);
      t.ok(got.every((o, i) => same(o.toFloat32(), want[i]!)), `step ${step}: same bits as eager`);
      // The returned tensors are the caller's: the next replay does not change them.
      got.forEach((o) => o.dispose());
      xs.forEach((x) => x.dispose());
    }
    let s = g.stats();
    t.same([s.eager, s.captures, s.replays, s.graphs], [1, 1, 3, 1], 'one warm-up, one capture, three graph runs');
    t.ok(s.poolBytes > 0);
    // Another shape is another key; a third key is over the limit and stays eager.
    const wide = [randn([2, 70], { seed: 9, device }), randn([2, 70], { seed: 10, device })];
    for (let k = 0; k < 2; k++) g.run('plan A', wide, fn).forEach((o) => o.dispose());
    for (let k = 0; k < 3; k++) {
      const [o] = g.run('plan B', wide, fn);
      t.ok(same(o!.toFloat32(), eager(wide)[0]!));
      o!.dispose();
    }
    s = g.stats();
    t.equal(s.graphs, 2, 'at most maxGraphs graphs');
    t.equal(s.captures, 2);
    // A function that reads data back cannot be captured: the key falls back to eager with the same result.
    const g2 = new StepGraphs(device, { warmup: 0 });
    const reads = ([x]: readonly Tensor[]): Tensor[] => [ops.scale(x!, ops.relativeL1(x!, ops.scale(x!, 2)))];
    for (let k = 0; k < 2; k++) {
      const [o] = g2.run('reads', wide.slice(0, 1), reads);
      const want = tidy(() => reads(wide.slice(0, 1))[0]!.toFloat32());
      t.ok(same(o!.toFloat32(), want), `call ${k}: the eager result`);
      o!.dispose();
    }
    s = g2.stats();
    t.equal(s.failures.length, 1, 'the failure is reported once');
    t.match(s.failures[0]!.reason, /cudaErrorStreamCapture/);
    t.same([s.captures, s.eager, s.graphs], [0, 2, 0]);
    g.dispose();
    g2.dispose();
    wide.forEach((x) => x.dispose());
    const m = memory().pools[device]!;
    t.equal(m.graphPools, base.graphPools, 'dispose() released every pool');
    t.equal(m.bytesInGraphPools, base.bytesInGraphPools);
  });
}
