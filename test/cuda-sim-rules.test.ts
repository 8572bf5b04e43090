// The CUDA simulator catches kernels that break the rules (divergent barriers, warp masks that do not match
// the lanes that arrive, missing cp.async waits, shared memory over the limit), poisons shared memory,
// randomises the resume order on request, runs blocks in parallel with correct atomics, and stays usable
// after a kernel error.
import t from 'tap';

import { native } from '../dist/src/native.js';

const run = (name: string, input: Float32Array = new Float32Array(0), params: number[] = []) =>
  native.simSelfTest(name, input, params);
const cudaError = (kernel: string, message: RegExp) => ({ name: 'HgcError', code: 'CUDA', message: new RegExp(`kernel '${kernel}'.*${message.source}`) });

// A kernel with barriers and atomics whose result must not depend on the schedule (integer-valued floats).
function blockReduce(n: number, block: number) {
  const x = Float32Array.from({ length: n }, (_, i) => (i * 7) % 13 - 6);
  return { x, out: run('block_reduce', x, [block]) };
}

t.test('rule-breaking kernels are typed CUDA errors naming the kernel, and the simulator stays usable', async (t) => {
  const cases: [string, RegExp][] = [
    ['bad_divergent_barrier', /divergent __syncthreads: .* waits at .*selftest_kernels\.cu:\d+ while 16 thread\(s\) wait at .*selftest_kernels\.cu:\d+/],
    ['bad_exit_before_barrier', /divergent __syncthreads: 40 thread\(s\) wait at .* but 24 thread\(s\) of the block already exited/],
    ['bad_mask_not_own', /shfl_xor: thread \(16,0,0\) \[warp 0 lane 16\] is not in its own mask 0xffff/],
    ['bad_mask_lanes_exit', /deadlock: .*waits at shfl_xor with mask 0xffffffff for lanes 16-31 that never arrive/],
    ['bad_mask_mismatch', /shfl_xor with mask 0xffff0000 .* but thread \(0,0,0\) .* waits at shfl_xor with mask 0xffffffff/],
    ['bad_collectives_differ', /ballot with mask 0xffffffff .* waits at shfl_xor/],
    ['bad_warp_vs_barrier', /deadlock: .*16 thread\(s\) wait at __syncthreads .*shfl_xor with mask 0xffffffff for lanes 16-31/],
    ['bad_cp_async_global_dst', /thread \(5,0,0\).*cp\.async destination is outside the block's shared memory/],
    ['bad_ldmatrix_unaligned', /ldmatrix: lane 0 of warp 0 passes a row address that is not 16-byte aligned/],
    ['bad_block_shape', /invalid block \(2048,1,1\)/],
  ];
  const good = blockReduce(1000, 128).out;
  for (const [name, message] of cases) {
    t.throws(() => run(name), cudaError(name, message), name);
    t.same(Array.from(blockReduce(1000, 128).out), Array.from(good), `usable after ${name}`);
  }
  t.throws(() => run('no_such_test'), { name: 'HgcError', code: 'ARG' });
});

t.test('failed blocks return their fibers: repeated errors do not grow the process', async (t) => {
  const attempt = () => { try { run('bad_warp_vs_barrier'); } catch { /* expected */ } };
  for (let i = 0; i < 50; i++) attempt();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 500; i++) attempt();  // 32 fibers each: leaked stacks would add > 100 MB
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  t.ok(grown < 24, `RSS grew ${grown.toFixed(1)} MB over 500 failed launches`);
});

t.test('shared memory limits: 48 KB by default, up to 227 KB when the launch opts in', async (t) => {
  // A raw simulator launch that does not opt in (launch.cuh always does for > 48 KB).
  t.throws(() => run('dyn_smem', undefined, [60000, 0]), cudaError('dyn_smem_raw', /60000 bytes of dynamic shared memory exceed the limit of 49152 bytes \(opt in/));
  t.same(Array.from(run('dyn_smem', undefined, [40000, 1])), [10000], '40 000 bytes without opting in');
  t.same(Array.from(run('dyn_smem', undefined, [200000, 1])), [50000], '200 000 bytes, opted in by launch()');
  t.throws(() => run('dyn_smem', undefined, [240000, 1]), cudaError('dyn_smem', /240000 bytes of dynamic shared memory exceed the 232448-byte maximum/));
  t.throws(() => run('big_static_smem'), cudaError('big_static_smem', /bytes of static shared memory \(at least\) plus 0 dynamic exceed the limit of 49152/));
});

t.test('shared memory starts as NaN', async (t) => {
  const out = run('uninitialised_smem');
  t.ok(Array.from(out).every(Number.isNaN), 'static and dynamic shared memory read before writing are NaN');
});

t.test('cp.async lands only at the matching wait', async (t) => {
  const x = Float32Array.from({ length: 160 }, (_, i) => i + 0.5);
  const expect = (tail: (v: number) => number) => {
    const w: number[] = [];
    for (let tid = 0; tid < 32; tid++) {
      const o = (tid + 5) % 32;
      w.push(x[o * 4]!, x[o * 4 + 1]!, x[o * 4 + 2]!, x[o * 4 + 3]!, tail(x[128 + o]!));
    }
    return w;
  };
  t.same(Array.from(run('cp_async', x, [0])), expect((v) => v), 'wait<0>: both groups landed');
  t.ok(Array.from(run('cp_async', x, [1])).every(Number.isNaN), 'no wait: the reads see poisoned shared memory');
  t.same(Array.from(run('cp_async', x, [2])).map((v) => (Number.isNaN(v) ? -1 : v)), expect(() => -1), 'wait<1>: only the first group');
  t.same(Array.from(run('cp_async', x, [3])), expect(() => 0), 'valid = false writes zeros');
});

t.test('a seeded random resume order: race-free kernels give identical results, a missing barrier shows', async (t) => {
  const before = native.simConfigure();
  try {
    const n = 1000;
    const { x } = blockReduce(n, 96);
    const sums = (out: Float32Array) => Array.from(out);
    const results: number[][] = [];
    for (const seed of [0, 1, 2, 12345]) {
      native.simConfigure({ seed });
      results.push(sums(run('block_reduce', x, [96])));
    }
    for (const r of results.slice(1)) t.same(r, results[0], 'same result under another resume order');
    const total = Array.from(x).reduce((a, b) => a + b, 0);
    t.equal(results[0]![Math.ceil(n / 96)], total, 'total');

    const v = Float32Array.from({ length: 64 }, (_, i) => i);
    const withBarrier = [0, 1, 2].map((seed) => (native.simConfigure({ seed }), Array.from(run('neighbour', v, [1]))));
    const want = Array.from(v, (_, i) => (i + 1) % 64);
    for (const r of withBarrier) t.same(r, want, 'with the barrier: always the neighbour');
    const racy = [0, 1, 2].map((seed) => (native.simConfigure({ seed }), Array.from(run('neighbour', v, [0]))));
    for (const r of racy) t.ok(r.some(Number.isNaN), 'without the barrier: some reads see unwritten (NaN) memory');
    t.notSame(racy[1], racy[2], 'and the outcome depends on the order');
  } finally {
    native.simConfigure({ seed: before.seed });
  }
});

t.test('blocks in parallel: atomics stay exact', async (t) => {
  const before = native.simConfigure();
  try {
    for (const threads of [1, 4]) {
      t.equal(native.simConfigure({ threads }).threads, threads);
      const n = 20000;
      const { x, out } = blockReduce(n, 128);
      const grid = Math.ceil(n / 128);
      t.equal(out[grid], Array.from(x).reduce((a, b) => a + b, 0), `${threads} thread(s): float atomicAdd total`);
      t.equal(out[grid + 1], n, 'int atomicAdd count');
      t.equal(out[grid + 2], n - 1, 'atomicMax');
      for (let b = 0; b < grid; b++) {
        const part = Array.from(x.subarray(b * 128, (b + 1) * 128)).reduce((a, c) => a + c, 0);
        if (out[b] !== part) t.fail(`block ${b}: ${out[b]} vs ${part}`);
      }
    }
  } finally {
    native.simConfigure({ threads: before.threads });
  }
  t.throws(() => native.simConfigure({ threads: 0 }), { name: 'HgcError', code: 'ARG' });
});

t.test('the runtime subset: a fake sm_80-like device, synchronous streams and events, sticky errors', async (t) => {
  const r = Array.from(run('runtime'));
  t.same(r.slice(0, 11), [0, 1, 0, 0, 0, 80, 49152, 232448, 32, 0, 232448], 'device count, device, properties, attribute');
  t.same(r.slice(11, 19), [0, 0, 0, 0, 0, 0, 0, 0], 'streams, events and async copies succeed');
  t.equal(r[19], 0, 'elapsed time: launches are synchronous');
  t.equal(r[20], 0, 'destroyed');
  t.same(r.slice(21, 29), [1, 2, 3, 4, 0, 0, 0, 0], 'memset then a partial copy, read back');
  t.same(r.slice(29, 33), [1, 1, 1, 0], 'cudaErrorInvalidValue (1): returned, peeked, read once, then cleared');
  t.same(r.slice(33), [1, 1, 101], 'error names and strings; cudaSetDevice(1) is cudaErrorInvalidDevice');
});

t.test('stream capture follows the CUDA runtime rules (cuda/sim/capture.cc)', async (t) => {
  const r = Array.from(run('capture'));
  t.same(r.slice(0, 4), [900, 0, 401, 1], 'legacy stream: cudaErrorStreamCaptureUnsupported; second begin: cudaErrorIllegalState; status active');
  t.same(r.slice(4, 7), [0, 1, 0], 'a launch and an async copy are recorded: d still 1, the copy target still 0');
  t.same(r.slice(7, 11), [0, 0, 22, 33], 'end, instantiate, then each launch runs the kernel and the copy in order');
  t.same(r.slice(11, 16), [900, 2, 1, 901.5, 0],
    'cudaMalloc in a thread-local capture: refused, capture invalidated, the stream refuses work, end says Invalidated and returns no graph, the stream is free again');
  t.same(r.slice(16, 19), [0, 2, 900], 'relaxed interaction mode allows cudaMalloc (the allocator path); restored, a synchronous memset is refused');
  t.same(r.slice(19, 21), [906, 900], 'the legacy stream during a capture: cudaErrorStreamCaptureImplicit; synchronising a capturing stream: refused');
  t.same(r.slice(21, 25), [908, 0, 0, 900],
    'another thread cannot end a thread-local capture, may allocate during it, but not during a global-mode capture');
  t.same(r.slice(25), [0, 44], 'a graph launched into a capture becomes part of the new graph');
  t.same(Array.from(run('neighbour', Float32Array.from({ length: 64 }, (_, i) => i), [1])).slice(0, 2), [1, 2], 'the simulator runs kernels eagerly again');
});
