/**
 * Typed errors. Every failure of hgc, in TypeScript or native code, is an {@link HgcError} whose `code` says
 * what kind of input was wrong and whose message names the offending shapes or values.
 */

/** What went wrong: shapes, dtypes, devices, a disposed tensor, memory, CUDA, files, or other arguments. */
export type HgcErrorCode = 'SHAPE' | 'DTYPE' | 'DEVICE' | 'DISPOSED' | 'OOM' | 'CUDA' | 'IO' | 'ARG';

/** The one error class hgc throws. */
export class HgcError extends Error {
  /** The error category. */
  readonly code: HgcErrorCode;

  constructor(code: HgcErrorCode, message: string) {
    super(message);
    this.name = 'HgcError';
    this.code = code;
  }
}

/** Throws an {@link HgcError} with `code` and `message` unless `condition` holds. */
export function check(condition: unknown, code: HgcErrorCode, message: string | (() => string)): asserts condition {
  if (!condition) throw new HgcError(code, typeof message === 'function' ? message() : message);
}

/** `[2, 3, 4]` for error messages. */
export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
