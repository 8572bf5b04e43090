// Test helpers: a seeded generator for inputs, float64 reference implementations and error measures.
import { devices } from '../../dist/src/index.js';
import { native } from '../../dist/src/native.js';

/**
 * Devices a shared test body runs on: every available device except meta whose backend implements all the
 * named ops (launcher names, e.g. testDevices('gemm', 'binary')). HGC_TEST_DEVICES (comma-separated) further
 * restricts the list, e.g. HGC_TEST_DEVICES=cuda for `npm run test:gpu`.
 */
export function testDevices(...ops: string[]): string[] {
  const only = process.env.HGC_TEST_DEVICES;
  const all = devices()
    .filter((d) => d.available && d.name !== 'meta' && ops.every((op) => d.ops.includes(op)))
    .map((d) => d.name);
  return only ? all.filter((d) => only.split(',').includes(d)) : all;
}

/** Every launcher name (include/hgc/launchers.h): testDevices(...ALL_OPS) = devices that implement everything. */
export const ALL_OPS = ['gemm', 'conv2d', 'attention', 'group_norm', 'layer_norm', 'binary', 'unary', 'geglu', 'softmax',
  'upsample2x', 'timestep_embedding', 'reduce', 'strided_copy', 'fill', 'randn', 'cast'];

/** Whether a device is the CUDA simulator (slow: test bodies use smaller shapes there). */
export function isSim(device: string): boolean {
  return device === 'cuda-sim';
}

/** Deterministic uniform(-1, 1) values (mulberry32). */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** max|y − ref| / max(max|ref|, tiny): the normalised error used against float64 references. */
export function normError(y: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (y.length !== ref.length) throw new Error(`length ${y.length} vs ${ref.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(y[i]! - ref[i]!);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : d;
    den = Math.max(den, Math.abs(ref[i]!));
  }
  return num / Math.max(den, 1e-30);
}

export function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for a reference; use a series/continued fraction to ~1e-15.
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = ax, term = ax;
    for (let n = 1; n < 200; n++) {
      term *= -ax * ax / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

export const act = {
  none: (x: number) => x,
  gelu: (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  silu: (x: number) => x / (1 + Math.exp(-x)),
  quick_gelu: (x: number) => x / (1 + Math.exp(-1.702 * x)),
};

/** C = act(op(A)·op(B) + bias) + residual for one matrix, float64. */
export function refGemm(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number,
  o: { transA?: boolean; transB?: boolean; bias?: ArrayLike<number>; residual?: ArrayLike<number>; activation?: keyof typeof act } = {}): Float64Array {
  const out = new Float64Array(m * n);
  const f = act[o.activation ?? 'none'];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = o.transA ? a[p * m + i]! : a[i * k + p]!;
        const bv = o.transB ? b[j * k + p]! : b[p * n + j]!;
        s += av * bv;
      }
      if (o.bias) s += o.bias[j]!;
      s = f(s);
      if (o.residual) s += o.residual[i * n + j]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

/** NCHW convolution, float64. */
export function refConv2d(x: ArrayLike<number>, w: ArrayLike<number>, [n, cin, h, wd]: number[], [cout, , kh, kw]: number[],
  stride: number, pad: number, bias?: ArrayLike<number>, residual?: ArrayLike<number>): { out: Float64Array; shape: number[] } {
  const oh = Math.floor((h! + 2 * pad - kh!) / stride) + 1, ow = Math.floor((wd! + 2 * pad - kw!) / stride) + 1;
  const out = new Float64Array(n! * cout! * oh * ow);
  for (let b = 0; b < n!; b++) for (let co = 0; co < cout!; co++) for (let y = 0; y < oh; y++) for (let xo = 0; xo < ow; xo++) {
    let s = bias ? bias[co]! : 0;
    for (let ci = 0; ci < cin!; ci++) for (let ky = 0; ky < kh!; ky++) for (let kx = 0; kx < kw!; kx++) {
      const iy = y * stride - pad + ky, ix = xo * stride - pad + kx;
      if (iy < 0 || iy >= h! || ix < 0 || ix >= wd!) continue;
      s += x[((b * cin! + ci) * h! + iy) * wd! + ix]! * w[((co * cin! + ci) * kh! + ky) * kw! + kx]!;
    }
    const idx = ((b * cout! + co) * oh + y) * ow + xo;
    out[idx] = s + (residual ? residual[idx]! : 0);
  }
  return { out, shape: [n!, cout!, oh, ow] };
}

/** Attention, float64: returns out [B, N, C] and probs [B, H, N, M]. */
export function refAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, b: number, n: number, m: number,
  heads: number, d: number, causal = false, scale = 1 / Math.sqrt(d)): { out: Float64Array; probs: Float64Array } {
  const c = heads * d;
  const out = new Float64Array(b * n * c);
  const probs = new Float64Array(b * heads * n * m);
  const s = new Float64Array(m);
  for (let bb = 0; bb < b; bb++) for (let h = 0; h < heads; h++) for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < m; j++) {
      if (causal && j > i + (m - n)) { s[j] = -Infinity; continue; }
      let dot = 0;
      for (let p = 0; p < d; p++) dot += q[(bb * n + i) * c + h * d + p]! * k[(bb * m + j) * c + h * d + p]!;
      s[j] = dot * scale;
      mx = Math.max(mx, s[j]!);
    }
    let sum = 0;
    for (let j = 0; j < m; j++) { s[j] = Math.exp(s[j]! - mx); sum += s[j]!; }
    for (let j = 0; j < m; j++) {
      const pj = s[j]! / sum;
      probs[((bb * heads + h) * n + i) * m + j] = pj;
      for (let p = 0; p < d; p++) out[(bb * n + i) * c + h * d + p]! += pj * v[(bb * m + j) * c + h * d + p]!;
    }
  }
  return { out, probs };
}

/**
 * Runs `run` on cuda-sim with the default schedule (seed 0, one thread), then with two random resume orders on
 * 2 and 3 threads, and checks that every field of the result is identical each time; the simulator's settings
 * are restored afterwards. Returns the reference result.
 */
export function sameUnderSimSchedules<R extends Record<string, unknown>>(
  t: { same(found: unknown, wanted: unknown, message?: string): unknown }, run: () => R): R {
  const before = native.simConfigure();
  try {
    native.simConfigure({ seed: 0, threads: 1 });
    const reference = run();
    for (const [seed, threads] of [[12345, 2], [987654321, 3]] as [number, number][]) {
      native.simConfigure({ seed, threads });
      const got = run();
      for (const key of Object.keys(reference)) t.same(got[key], reference[key], `${key}: seed ${seed}, ${threads} threads`);
    }
    return reference;
  } finally {
    native.simConfigure(before);
  }
}
