// The warp and tensor-core primitives of cuda/prims.cuh, run by the CUDA simulator through its self-test
// kernels (cuda/sim/selftest_kernels.cu), against the layouts documented in prims.cuh and the CUDA shuffle
// rules, written again here independently of the simulator.
import t from 'tap';

import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../dist/src/index.js';
import { native } from '../dist/src/native.js';
import { randomArray } from './helpers/reference';

const run = (name: string, input: Float32Array, params: number[] = []) => native.simSelfTest(name, input, params);

t.test('mma m16n8k16 (f16 and bf16 in, f32 accumulate) equals A·B + C of the fragments\' matrices', async (t) => {
  for (const type of ['f16', 'bf16'] as const) {
    for (const seed of [1, 2, 3]) {
      const A = randomArray(256, seed, 2), B = randomArray(128, seed + 10, 2), C = randomArray(128, seed + 20, 4);
      const round = (v: number) => (type === 'f16' ? f16BitsToF32(f32ToF16Bits(v)) : bf16BitsToF32(f32ToBf16Bits(v)));
      const D = run(`mma_${type}`, Float32Array.from([...A, ...B, ...C]));
      let worst = 0;
      for (let i = 0; i < 16; i++) for (let j = 0; j < 8; j++) {
        let s = C[i * 8 + j]!;
        for (let k = 0; k < 16; k++) s += round(A[i * 16 + k]!) * round(B[k * 8 + j]!);
        worst = Math.max(worst, Math.abs(D[i * 8 + j]! - s));
      }
      t.ok(worst < 1e-4, `${type} seed ${seed}: max |D - ref| = ${worst}`);
    }
  }
  // A single nonzero element of A and of B lands exactly where the layout says.
  const A = new Float32Array(256), B = new Float32Array(128);
  A[5 * 16 + 11] = 1;  // row 5, k 11
  B[11 * 8 + 6] = 3;   // k 11, column 6
  const D = run('mma_f16', Float32Array.from([...A, ...B, ...new Float32Array(128)]));
  t.same(Array.from(D).map((v, i) => (v !== 0 ? i : -1)).filter((i) => i >= 0), [5 * 8 + 6], 'D[5][6] only');
  t.equal(D[5 * 8 + 6], 3);
});

t.test('ldmatrix x1/x2/x4, plain and .trans, from static and dynamic shared memory', async (t) => {
  const input = Float32Array.from({ length: 256 }, (_, i) => i);  // matrix m, row r, column c = m*64 + r*8 + c
  for (const count of [1, 2, 4]) for (const trans of [0, 1]) for (const dynamic of [0, 1]) {
    const out = run('ldmatrix', input, [count, trans, dynamic]);
    const want: number[] = [];
    for (let lane = 0; lane < 32; lane++) for (let m = 0; m < 4; m++) {
      if (m >= count) { want.push(-1, -1); continue; }
      const g = lane >> 2, q = lane & 3;
      const at = (r: number, c: number) => m * 64 + r * 8 + c;
      if (trans) want.push(at(2 * q, g), at(2 * q + 1, g));
      else want.push(at(g, 2 * q), at(g, 2 * q + 1));
    }
    t.same(Array.from(out), want, `x${count}${trans ? '.trans' : ''} (${dynamic ? 'dynamic' : 'static'} smem)`);
  }
});

// The CUDA programming guide's rules for __shfl_*_sync, segment by segment.
function shuffleRef(values: Float32Array, mode: number, b: number, width: number, mask: number): number[] {
  return Array.from(values, (v, lane) => {
    if (!((mask >>> lane) & 1)) return v;
    const seg = Math.floor(lane / width), pos = lane % width;
    let src: number;
    if (mode === 0) src = seg * width + (b % width);
    else if (mode === 1) src = pos >= b ? lane - b : lane;
    else if (mode === 2) src = pos + b < width ? lane + b : lane;
    else src = Math.floor((lane ^ b) / width) > seg ? lane : lane ^ b;
    return values[src]!;
  });
}

t.test('shuffles: idx, up, down and xor with every width, float and int', async (t) => {
  const values = Float32Array.from({ length: 32 }, (_, i) => 100 + i * 3);
  let cases = 0;
  for (const mode of [0, 1, 2, 3]) for (const width of [1, 2, 4, 8, 16, 32]) for (const b of [0, 1, 3, 5, 16, 31]) {
    for (const asInt of [0, 1]) {
      const out = run('shuffle', values, [mode, b, width, 0xffffffff, asInt]);
      t.same(Array.from(out), shuffleRef(values, mode, b, width, 0xffffffff), `mode ${mode} width ${width} b ${b} int ${asInt}`);
      cases++;
    }
  }
  t.equal(cases, 288);
  // A half-warp mask with width 16: lanes 16-31 do not take part.
  const out = run('shuffle', values, [3, 4, 16, 0x0000ffff, 0]);
  t.same(Array.from(out), shuffleRef(values, 3, 4, 16, 0x0000ffff), 'xor within lanes 0-15');
});

t.test('shuffle reading a lane outside the mask is an error', async (t) => {
  const values = Float32Array.from({ length: 32 }, (_, i) => i);
  t.throws(() => run('shuffle', values, [2, 1, 32, 0x0000ffff, 0]), {
    name: 'HgcError', code: 'CUDA', message: /kernel 'shuffle'.*reads lane 16, which is not in the mask/,
  });
  t.throws(() => run('shuffle', values, [0, 0, 3, 0xffffffff, 0]), { code: 'CUDA', message: /width 3 is not a power of two/ });
});

t.test('ballot with full and partial masks', async (t) => {
  const preds = Float32Array.from(randomArray(32, 5), (v) => (v > 0 ? 1 : 0));
  for (const mask of [0xffffffff, 0x0000ffff, 0xf0f0f0f0, 0x80000001]) {
    const out = run('ballot', preds, [mask]);
    let bits = 0;
    for (let i = 0; i < 32; i++) if (preds[i] && ((mask >>> i) & 1)) bits = (bits | (1 << i)) >>> 0;
    for (let lane = 0; lane < 32; lane++) {
      const inside = (mask >>> lane) & 1;
      const got = inside ? out[lane * 2]! + out[lane * 2 + 1]! * 65536 : -1;
      if (got !== (inside ? bits : -1)) t.fail(`mask ${mask.toString(16)} lane ${lane}: ${got} vs ${bits}`);
    }
    t.pass(`mask 0x${mask.toString(16)}`);
  }
});

t.test('warp_sum and warp_max: every lane gets the warp\'s result', async (t) => {
  const x = randomArray(64, 9, 5);
  const out = run('warp_reduce', x);
  for (let w = 0; w < 2; w++) {
    const part = Array.from(x.subarray(w * 32, w * 32 + 32));
    const sum = part.reduce((a, b) => a + b, 0), max = Math.max(...part);
    for (let l = 0; l < 32; l++) {
      const i = w * 32 + l;
      if (Math.abs(out[i * 2]! - sum) > 1e-5 || out[i * 2 + 1] !== Math.fround(max)) t.fail(`warp ${w} lane ${l}`);
    }
    t.equal(out[w * 64], out[w * 64 + 62], `warp ${w}: identical on every lane (same butterfly order)`);
  }
});

t.test('a partial last warp: a mask of its 16 lanes works, the full mask is an error', async (t) => {
  const x = Float32Array.from({ length: 48 }, (_, i) => i * 2);
  const out = run('partial_warp', x, [0xffff]);
  const want = Array.from(x, (v, i) => {
    const lane = i % 32, lanes = i < 32 ? 32 : 16;
    return lane + 1 < lanes ? x[i + 1]! : v;
  });
  t.same(Array.from(out), want);
  t.throws(() => run('partial_warp', x, [0xffffffff]), {
    name: 'HgcError', code: 'CUDA', message: /kernel 'partial_warp'.*mask 0xffffffff names lanes that do not exist \(warp 1 has 16 lanes/,
  });
});
