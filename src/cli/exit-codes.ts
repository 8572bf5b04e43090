/**
 * Exit codes of the `hgc` command line, and the error type for bad command lines.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success |
 * | 1 | unexpected failure (a bug: please report it) |
 * | 2 | usage error: unknown command or option, missing or invalid value |
 * | 3 | input error: a file or model folder is missing, unreadable, corrupt or of the wrong type |
 * | 4 | runtime error: the computation failed (shapes, devices, memory, CUDA) |
 * | 130 | interrupted (Ctrl-C: the shell's status for SIGINT; hgc installs no handler, so it stops at once) |
 */
import { HgcError } from '../errors.js';

/** The exit codes (see the module description). */
export const EXIT = Object.freeze({ OK: 0, INTERNAL: 1, USAGE: 2, INPUT: 3, RUNTIME: 4, INTERRUPTED: 130 });

/** A command line that cannot be run as given (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The exit code for an error thrown by a command. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT.USAGE;
  if (e instanceof HgcError) return e.code === 'IO' ? EXIT.INPUT : e.code === 'ARG' ? EXIT.USAGE : EXIT.RUNTIME;
  return EXIT.INTERNAL;
}
