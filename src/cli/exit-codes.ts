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
 * | 130 | cancelled (Ctrl-C) |
 */
import { HgcError } from '../errors.js';

/** The exit codes (see the module description). */
export const EXIT = Object.freeze({ OK: 0, INTERNAL: 1, USAGE: 2, INPUT: 3, RUNTIME: 4, CANCELLED: 130 });

/** A command line that cannot be run as given (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A generation stopped by the user (exit code 130). */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
}

/** The exit code for an error thrown by a command. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT.USAGE;
  if (e instanceof CancelledError) return EXIT.CANCELLED;
  if (e instanceof HgcError) return e.code === 'IO' ? EXIT.INPUT : e.code === 'ARG' ? EXIT.USAGE : EXIT.RUNTIME;
  return EXIT.INTERNAL;
}
