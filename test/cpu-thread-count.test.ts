// CPU results do not depend on the thread count: every op splits work so that each output element is
// computed by the same sequence of operations whatever the number of threads (HGC_NUM_THREADS).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import t from 'tap';

const script = path.join(__dirname, 'helpers', 'thread-count-ops.js');
const run = (threads: number): Record<string, string | number> =>
  JSON.parse(execFileSync(process.execPath, [script], { env: { ...process.env, HGC_NUM_THREADS: String(threads) } }).toString());

t.test('bit-identical outputs with 1, 2 and 3 threads', async (t) => {
  const one = run(1);
  t.equal(one.threads, 1);
  for (const threads of [2, 3]) {
    const other = run(threads);
    t.equal(other.threads, threads);
    for (const op of Object.keys(one).filter((k) => k !== 'threads')) t.equal(other[op], one[op], `${op} with ${threads} threads`);
  }
});
