// The nn layer: parameter names, state-dict loading reports, casting, random and meta initialisation.
import t from 'tap';

import { countMacs, nn, ops, tensor, zeros } from '../dist/src/index.js';
import { normError, randomArray } from './helpers/reference';

class Block extends nn.Module {
  readonly norm = this.child('norm', new nn.GroupNorm(2, 4));
  readonly conv = this.child('conv', new nn.Conv2d(4, 6, 3, { padding: 1 }));
  readonly proj = this.child('proj', new nn.Linear(6, 3, false));
  forward(x: ReturnType<typeof zeros>) {
    const h = this.norm.forward(x, true);
    const c = this.conv.forward(h);
    const tokens = ops.nchwToTokens(c);
    return this.proj.forward(tokens);
  }
}

t.test('parameter names follow the module tree', async (t) => {
  const b = new Block();
  t.same(b.namedParameters().map(([n]) => n), ['norm.weight', 'norm.bias', 'conv.weight', 'conv.bias', 'proj.weight']);
  t.equal(b.parameterCount(), 4 + 4 + 6 * 4 * 9 + 6 + 18);
});

t.test('loadStateDict reports missing, unexpected and mismatched keys', async (t) => {
  const b = new Block();
  const sd = new Map([
    ['norm.weight', zeros([4])], ['norm.bias', zeros([4])], ['conv.weight', zeros([6, 4, 3, 3])],
    ['proj.weight', zeros([3, 5])], ['extra.weight', zeros([1])],
  ]);
  t.throws(() => b.loadStateDict(sd), { name: 'HgcError', code: 'IO', message: /missing 1: conv\.bias.*unexpected 1: extra\.weight.*proj\.weight expected \[3, 6\] got \[3, 5\]/ });
  const report = b.loadStateDict(sd, { strict: false });
  t.same(report.missing, ['conv.bias']);
  t.same(report.unexpected, ['extra.weight']);
  t.equal(report.mismatched[0]?.name, 'proj.weight');
  t.ok(b.norm.weight.tensor, 'matching parameters are loaded in non-strict mode');
  t.equal(b.proj.weight.tensor, null, 'mismatched ones are not');
});

t.test('a loaded block computes what the ops compute, with casting', async (t) => {
  const b = new Block();
  const values = {
    'norm.weight': randomArray(4, 1), 'norm.bias': randomArray(4, 2), 'conv.weight': randomArray(216, 3),
    'conv.bias': randomArray(6, 4), 'proj.weight': randomArray(18, 5),
  };
  const shapes: Record<string, number[]> = { 'norm.weight': [4], 'norm.bias': [4], 'conv.weight': [6, 4, 3, 3], 'conv.bias': [6], 'proj.weight': [3, 6] };
  const sd = new Map(Object.entries(values).map(([k, v]) => [k, tensor(v, shapes[k]!, { dtype: 'f16' })]));
  b.loadStateDict(sd, { dtype: 'f32' });
  for (const x of sd.values()) x.dispose();
  t.equal(b.conv.weight.tensor?.dtype, 'f32', 'f16 on disk → f32');
  const x = tensor(randomArray(2 * 4 * 5 * 5, 6), [2, 4, 5, 5]);
  const y = b.forward(x);
  t.same(y.shape, [2, 25, 3]);
  const p = (n: string) => b.namedParameters().find(([k]) => k === n)![1].tensor!;
  const h = ops.groupNorm(x, 2, { weight: p('norm.weight'), bias: p('norm.bias'), silu: true });
  const ref = ops.linear(ops.nchwToTokens(ops.conv2d(h, p('conv.weight'), { padding: 1, bias: p('conv.bias') })), p('proj.weight'));
  t.ok(normError(y.data() as Float32Array, ref.data() as Float32Array) < 1e-7);
  b.dispose();
  t.equal(b.conv.weight.tensor, null);
  t.throws(() => b.forward(x), { name: 'HgcError', code: 'ARG', message: /norm\.weight|weight/ });
});

t.test('initRandom is deterministic per name; initMeta traces and counts', async (t) => {
  const a = new Block().initRandom({ seed: 3 }), b = new Block().initRandom({ seed: 3 }), c = new Block().initRandom({ seed: 4 });
  t.same(Array.from(a.conv.weight.tensor!.data()), Array.from(b.conv.weight.tensor!.data()));
  t.notSame(Array.from(a.conv.weight.tensor!.data()), Array.from(c.conv.weight.tensor!.data()));
  t.ok(Math.abs((a.norm.weight.tensor!.data() as Float32Array)[0]! - 1) < 0.1, 'norm scales near 1');
  const m = new Block().initMeta();
  const { result, counter } = countMacs(() => m.forward(zeros([1, 4, 64, 64], { device: 'meta' })));
  t.same(result.shape, [1, 4096, 3]);
  t.equal(counter.total(), 2 * 4 * 4096 + 6 * 4096 * (36 + 1) + 4096 * 3 * 6);
});
