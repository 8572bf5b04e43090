// The non-GEMM CUDA kernels under the simulator's seeded random schedules: the resume order of the fibers
// (and of the plain loop) and the order of blocks on parallel OS threads change with the seed, while every
// reduction in these kernels has a fixed summation order, so the outputs must be bit-identical to the
// deterministic schedule. A kernel that read shared memory before a barrier, or summed in arrival order,
// would differ here.
import t from 'tap';

import { ops, tensor } from '../dist/src/index.js';
import { randomArray, sameUnderSimSchedules, testDevices } from './helpers/reference';

const sim = testDevices('reduce', 'group_norm', 'layer_norm', 'softmax', 'strided_copy').includes('cuda-sim');

t.test('kernels give identical results under random schedules', { skip: sim ? false : 'cuda-sim not built' }, async (t) => {
  const opts = { device: 'cuda-sim' as const };
  const a = randomArray(20011, 1), b = randomArray(20011, 2);
  const x = randomArray(2 * 12 * 9 * 11, 3, 3), g = randomArray(12, 4), bias = randomArray(12, 5);
  const rows = randomArray(3 * 1500, 6, 8);
  const big = Float32Array.from(randomArray(6 * 45 * 47, 7, 3), (v) => v + 20);
  const run = () => ({
    cosine: ops.cosineSimilarity(tensor(a, [20011], opts), tensor(b, [20011], opts)),
    relL1: ops.relativeL1(tensor(a, [20011], opts), tensor(b, [20011], opts)),
    l1: ops.l1Norm(tensor(a, [20011], opts)),
    groupNorm: Array.from(ops.groupNorm(tensor(x, [2, 12, 9, 11], opts), 3,
      { weight: tensor(g, [12], opts), bias: tensor(bias, [12], opts), silu: true }).data()),
    groupNormSplit: Array.from(ops.groupNorm(tensor(big, [1, 6, 45, 47], opts), 2).data()),  // 3 blocks per group
    layerNorm: Array.from(ops.layerNorm(tensor(rows, [3, 1500], opts)).data()),
    softmax: Array.from(ops.softmax(tensor(rows, [3, 1500], opts)).data()),
    softmaxShort: Array.from(ops.softmax(tensor(rows, [90, 50], opts)).data()),
    transpose: Array.from(ops.permute(tensor(x, [2, 12, 99], opts), [0, 2, 1]).data()),
  });
  sameUnderSimSchedules(t, run);
});
