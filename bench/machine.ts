/** Facts about this machine: CPU identity from /proc/cpuinfo, a theoretical FMA peak, measured copy bandwidth. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';

export interface CpuInfo {
  model: string;
  vendor: string;
  /** Physical cores (cpu cores × sockets), or logical CPUs when /proc/cpuinfo does not say. */
  cores: number;
  logical: number;
  mhz: number;
  flags: Set<string>;
}

export function cpuInfo(): CpuInfo {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // Not Linux: fall back to what os.cpus() knows.
  }
  const field = (key: string): string[] =>
    [...text.matchAll(new RegExp(`^${key}\\s*:\\s*(.*)$`, 'gm'))].map((m) => m[1]!.trim());
  const first = (key: string): string | undefined => field(key)[0];
  const logical = field('processor').length || cpus().length;
  const sockets = new Set(field('physical id')).size || 1;
  const coresPerSocket = Number(first('cpu cores') ?? 0);
  const mhz = field('cpu MHz').map(Number);
  return {
    model: first('model name') ?? cpus()[0]?.model ?? 'unknown',
    vendor: first('vendor_id') ?? 'unknown',
    cores: coresPerSocket > 0 ? coresPerSocket * sockets : logical,
    logical,
    mhz: mhz.length > 0 ? Math.max(...mhz) : (cpus()[0]?.speed ?? 0),
    flags: new Set((first('flags') ?? '').split(/\s+/)),
  };
}

export interface Peak {
  gflops: number;
  /** Human-readable statement of how the number was computed. */
  assumptions: string;
}

/**
 * Estimates the running clock of one core from a dependent chain of 32-bit multiplies, each taking 3 cycles
 * (imul latency on Intel since Nehalem and on AMD Zen 1–4). The multiplier is a parameter so V8 cannot fold
 * the chain. Best of several tries, so it approaches the boost clock.
 */
export function measureClockGHz(): number {
  const chain = (n: number, x: number, k: number): number => {
    for (let i = 0; i < n; i++) {
      x = Math.imul(x, k); x = Math.imul(x, k); x = Math.imul(x, k); x = Math.imul(x, k);
      x = Math.imul(x, k); x = Math.imul(x, k); x = Math.imul(x, k); x = Math.imul(x, k);
    }
    return x;
  };
  const n = 5_000_000;
  let best = Infinity, sink = 0;
  for (let r = 0; r < 10; r++) {
    const t = performance.now();
    sink ^= chain(n, r + 1, 0x9e3779b1 + 2 * r);
    best = Math.min(best, performance.now() - t);
  }
  if (sink === 0.5) console.error(sink); // never true; keeps the result alive
  return (n * 8 * 3) / (best * 1e6);
}

/**
 * f32 FMA peak = clock × cores × FLOP/cycle. The clock is the larger of /proc/cpuinfo's "cpu MHz" (in a VM
 * often the base/TSC clock) and the measured one, since a peak should be an upper bound. FLOP/cycle assumes
 * two FMA pipes: 2 × 8 lanes × 2 = 32 with AVX2+FMA. AVX-512 only doubles that on Intel parts with two
 * 512-bit FMA units; AMD Zen 4 splits 512-bit ops over its 256-bit pipes, so it stays at 32.
 */
export function theoreticalPeak(info: CpuInfo, threads: number, measuredGHz: number): Peak {
  const ghz = Math.max(info.mhz / 1000, measuredGHz);
  const cores = Math.min(threads, info.cores);
  let perCycle = 8;
  let why = 'no AVX2+FMA: assuming 8 FLOP/cycle (SSE, 2 pipes × 4 lanes, no FMA)';
  if (info.flags.has('avx2') && info.flags.has('fma')) {
    perCycle = 32;
    why = 'avx2+fma: 2 FMA pipes × 8 f32 lanes × 2 = 32 FLOP/cycle';
    if (info.flags.has('avx512f') && info.vendor === 'GenuineIntel') {
      perCycle = 64;
      why = 'avx512f on Intel: assuming 2 FMA-512 pipes × 16 lanes × 2 = 64 FLOP/cycle';
    } else if (info.flags.has('avx512f')) {
      why += ' (avx512f present, but assumed not to widen the FMA pipes on this vendor)';
    }
  }
  const clock = `${ghz.toFixed(2)} GHz (max of cpuinfo ${(info.mhz / 1000).toFixed(2)} GHz and measured ${measuredGHz.toFixed(2)} GHz)`;
  return { gflops: ghz * cores * perCycle, assumptions: `${clock} × ${cores} cores × ${perCycle} FLOP/cycle; ${why}` };
}

/** Best-of-5 single-threaded TypedArray.set of a 256 MB buffer; counts bytes read plus bytes written. */
export function copyBandwidth(): number {
  const n = (256 << 20) / 4;
  const src = new Float32Array(n).fill(1);
  const dst = new Float32Array(n).fill(0); // touch the pages so the timing excludes page faults
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    dst.set(src);
    best = Math.min(best, performance.now() - t);
  }
  return (2 * src.byteLength) / (best / 1000) / 1e9;
}
