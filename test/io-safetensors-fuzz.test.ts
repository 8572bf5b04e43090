// Fuzzing the safetensors reader: a valid file mutated at random (truncations, byte flips, header-length
// changes, offset and dtype edits, JSON damage) must only ever give HgcError('IO') (or load correctly).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import t from 'tap';

import { HgcError, SafetensorsFile, tensor, writeSafetensors } from '../dist/src/index.js';
import { randomArray } from './helpers/reference';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgc-fuzz-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const base = path.join(dir, 'base.safetensors');
writeSafetensors(base, {
  'a.weight': tensor(randomArray(24, 1), [2, 3, 4]),
  'b.bias': tensor(randomArray(5, 2), [5], { dtype: 'f16' }),
  'c': tensor(randomArray(6, 3), [3, 2], { dtype: 'bf16' }),
}, { format: 'pt' });
const original = fs.readFileSync(base);
const headerLen = Number(original.readBigUInt64LE(0));

let seed = 12345;
const rand = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

type Mutation = (b: Buffer) => Buffer;
const mutations: [string, Mutation][] = [
  ['truncate', (b) => b.subarray(0, rand(b.length))],
  ['flip a byte', (b) => { const c = Buffer.from(b); c[rand(c.length)] ^= 1 << rand(8); return c; }],
  ['flip a header byte', (b) => { const c = Buffer.from(b); c[8 + rand(headerLen)] = 32 + rand(95); return c; }],
  ['header length', (b) => { const c = Buffer.from(b); c.writeBigUInt64LE(BigInt([0, 1, headerLen - 1, headerLen + 1, 2 ** 40, rand(1 << 20)][rand(6)]!), 0); return c; }],
  ['edit offsets', (b) => Buffer.from(b.toString('latin1').replace(/\d+/g, (d) => (rand(4) === 0 ? String(Number(d) + rand(64) - 32) : d)), 'latin1')],
  ['edit dtype', (b) => Buffer.from(b.toString('latin1').replace(/"(F32|F16|BF16)"/, `"${['F64', 'I8', 'X', 'F1', ''][rand(5)]}"`), 'latin1')],
  ['append garbage', (b) => Buffer.concat([b, Buffer.alloc(rand(100), rand(256))])],
  ['drop a bracket', (b) => { const s = b.toString('latin1'); const i = s.indexOf(['{', '}', '[', ']', '"', ':'][rand(6)]!, 8); return i < 0 ? b : Buffer.from(s.slice(0, i) + s.slice(i + 1), 'latin1'); }],
];

t.test('400 mutated files give only HgcError(IO) or a clean load', async (t) => {
  const counts = { io: 0, ok: 0 };
  for (let i = 0; i < 400; i++) {
    const [name, mutate] = mutations[i % mutations.length]!;
    const file = path.join(dir, `m${i}.safetensors`);
    fs.writeFileSync(file, mutate(original));
    try {
      const f = SafetensorsFile.open(file);
      try {
        for (const k of f.keys()) f.load(k).dispose();
      } finally {
        f.close();
      }
      counts.ok++;
    } catch (e) {
      if (!(e instanceof HgcError) || !['IO', 'DTYPE', 'SHAPE'].includes(e.code)) {
        t.fail(`${name} (case ${i}) threw ${String(e)}`);
        return;
      }
      counts.io++;
    }
  }
  t.ok(counts.io > 200, `${counts.io} rejected with HgcError, ${counts.ok} still valid after mutation`);
});
