// Golden-fixture helpers: paths, loading inputs and weights, and the MANIFEST's model tolerance.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { SafetensorsFile, type Tensor, loadSafetensors } from '../../dist/src/index.js';

export const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures');

export function goldenPath(...parts: string[]): string {
  return path.join(FIXTURES, 'golden', ...parts);
}

export function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

export function loadAll(file: string): Map<string, Tensor> {
  return loadSafetensors(file);
}

/** Reads one tensor of a safetensors file as floats. */
export function readFloats(file: SafetensorsFile, name: string): Float32Array {
  const t = file.load(name);
  try {
    return t.toFloat32();
  } finally {
    t.dispose();
  }
}

/** Worst violation of |a − b| ≤ atol + rtol·|b| as a ratio (≤ 1 passes), and the max abs difference. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, atol = 1e-4, rtol = 1e-4): { ratio: number; maxAbs: number } {
  if (a.length !== b.length) return { ratio: Infinity, maxAbs: Infinity };
  let ratio = 0, maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return { ratio: Infinity, maxAbs: NaN };
    maxAbs = Math.max(maxAbs, d);
    ratio = Math.max(ratio, d / (atol + rtol * Math.abs(b[i]!)));
  }
  return { ratio, maxAbs };
}
