// Test-only safetensors reader for the F32 golden fixtures (no validation beyond what the tests need).
import { readFileSync } from 'node:fs';

export interface LiteTensor {
  shape: number[];
  data: Float32Array;
}

/** Every F32 tensor of a .safetensors file by name (`__metadata__` is skipped). */
export function readSafetensors(file: string): Map<string, LiteTensor> {
  const buf = readFileSync(file);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as
    Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + headerLen;
  const out = new Map<string, LiteTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new Error(`${file}: ${name} is ${info.dtype}, only F32 is supported`);
    const [start, end] = info.data_offsets;
    const bytes = buf.subarray(base + start, base + end);
    const data = new Float32Array(bytes.length / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
    out.set(name, { shape: info.shape, data });
  }
  return out;
}
