#!/usr/bin/env node
/**
 * The `hgc` command line: `hgc generate | macs | bench | devices | help`. Errors are printed as one line on
 * stderr and mapped to exit codes (src/cli/exit-codes.ts): 2 usage, 3 input files and models, 4 runtime,
 * 130 interrupted (Ctrl-C), 1 anything unexpected.
 */
import { BENCH_USAGE, benchMain } from './bench.js';
import { DEVICES_USAGE, devicesMain } from './devices.js';
import { EXIT, UsageError, exitCodeFor } from './exit-codes.js';
import { GENERATE_USAGE, generateMain } from './generate.js';
import { MACS_USAGE, macsMain } from './macs.js';

/** `hgc help`. */
export const USAGE = `Usage: hgc <command> [options]

Commands:
  generate <model> --prompt TEXT --control FILE.png [...]   prompt + control image → PNG (progress, previews, cache policy)
  macs [--policy SPEC]... [--plot FILE.svg]                 MACs of SD1.5 + ControlNet per cache policy (meta device)
  bench [--filter RE] [--step] [--ort]                      CPU kernel benchmark and a toy-model step
  devices                                                   compute devices and their status
  help [command]                                            this text, or a command's options

Exit codes: 0 ok, 1 unexpected failure, 2 usage error, 3 missing/unreadable/wrong input file or model,
4 runtime failure, 130 interrupted (Ctrl-C). Documentation: docs/cli.md.
`;

const HELP: Record<string, string> = { generate: GENERATE_USAGE, macs: MACS_USAGE, bench: BENCH_USAGE, devices: DEVICES_USAGE };

/** Runs the command line `argv` (without node and the script); resolves to the exit code. Never throws. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'generate': return generateMain(rest);
      case 'macs': return macsMain([...rest]);
      case 'bench': return await benchMain(rest);
      case 'devices': return devicesMain(rest);
      case undefined: case 'help': case '--help': case '-h': {
        const topic = rest[0];
        if (topic !== undefined && HELP[topic] === undefined) throw new UsageError(`hgc help: unknown command '${topic}'`);
        process.stdout.write(topic ? HELP[topic]! : USAGE);
        return command === undefined ? EXIT.USAGE : EXIT.OK;
      }
      case '--version': case '-v':
        process.stdout.write(`${(require('../../../package.json') as { version: string }).version}\n`);
        return EXIT.OK;
      default:
        throw new UsageError(`hgc: unknown command '${command}' (commands: generate, macs, bench, devices, help)`);
    }
  } catch (e) {
    const code = exitCodeFor(e);
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`${msg.startsWith('hgc') ? '' : `hgc ${command}: `}${msg}\n`);
    if (code === EXIT.USAGE && e instanceof UsageError) process.stderr.write(`(see hgc help${command && HELP[command] ? ` ${command}` : ''})\n`);
    if (code === EXIT.INTERNAL && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return code;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
