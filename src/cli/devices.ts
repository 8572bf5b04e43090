/** `hgc devices [--json]`: the compute devices of this build and whether each can be used, with the reason when not. */
import { devices, numThreads } from '../runtime.js';
import { type OptionTable, parseCommand } from './args.js';

/** The options of `hgc devices`. */
export const DEVICES_OPTIONS: OptionTable = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };

/** `hgc devices --help`. */
export const DEVICES_USAGE = `Usage: hgc devices [--json]

The devices compiled into this build (cpu, cuda, cuda-sim) and the meta device (shapes only, for counting MACs), whether
each is available, and why not.
`;

const ROLE: Record<string, string> = {
  cpu: 'hand-written AVX2/FMA kernels',
  cuda: 'hand-written CUDA kernels',
  'cuda-sim': 'the CUDA sources compiled for the CPU simulator (slow; for testing and debugging kernels)',
  meta: 'shapes only: traces models at full size with no data (MAC counting)',
};

/** Runs `hgc devices`; returns the exit code. */
export function devicesMain(argv: readonly string[]): number {
  const args = parseCommand('devices', argv, DEVICES_OPTIONS);
  if (args.values.help) {
    process.stdout.write(DEVICES_USAGE);
    return 0;
  }
  const list = devices().map((d) => ({ ...d, ...(d.name === 'cpu' ? { threads: numThreads() } : {}) }));
  if (args.values.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  for (const d of list) {
    const status = d.available ? 'available' : `unavailable: ${d.reason ?? 'unknown reason'}`;
    const extra = 'threads' in d ? ` (${d.threads} threads; HGC_NUM_THREADS sets it)` : '';
    process.stdout.write(`${d.name.padEnd(8)} ${status}${extra}\n         ${ROLE[d.name] ?? ''}\n`);
  }
  return 0;
}
