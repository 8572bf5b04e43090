// Child process of cpu-thread-count.test.ts: runs a few ops on fixed random inputs with whatever
// HGC_NUM_THREADS the parent set, and prints each output's bits as a hex digest.
'use strict';
const crypto = require('node:crypto');
const { ops, randn, numThreads } = require('../../dist/src/index.js');

const digest = (t) => crypto.createHash('sha256').update(Buffer.from(t.data().buffer)).digest('hex');
const x = randn([2, 48, 13, 11], { seed: 1 }), w = randn([64, 48, 3, 3], { seed: 2 }), b = randn([64], { seed: 3 });
const q = randn([1, 97, 80], { seed: 4 }), k = randn([1, 77, 80], { seed: 5 }), v = randn([1, 77, 80], { seed: 6 });
const out = {
  threads: numThreads(),
  conv3x3: digest(ops.conv2d(x, w, { padding: 1, bias: b })),            // Winograd path
  conv3x3s2: digest(ops.conv2d(x, w, { padding: 1, stride: 2 })),        // implicit-GEMM path
  matmul: digest(ops.matmul(randn([300, 200], { seed: 7 }), randn([200, 130], { seed: 8 }))),
  attention: digest(ops.attention(q, k, v, { heads: 2 })),
  groupNorm: digest(ops.groupNorm(x, 8, { silu: true })),
};
process.stdout.write(JSON.stringify(out));
