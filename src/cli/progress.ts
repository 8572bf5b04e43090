/**
 * A progress bar for long loops on a stream (stderr by default): on a terminal one line redrawn in place
 * (`[#####.....] step 5/20  3.2 steps/s  ETA 4.7s`); otherwise one plain line per update, for logs.
 */

/** Where the bar writes: a stream, and whether it is a terminal. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Seconds as a short human string (`4.7s`, `2m05s`). */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}

/** Progress over `total` units (steps). */
export class ProgressBar {
  readonly #start: number;
  #done = 0;
  #open = false;

  /** `now` returns milliseconds (injectable for tests). */
  constructor(readonly total: number, readonly stream: ProgressStream = process.stderr, readonly label = 'step',
    readonly now: () => number = () => performance.now()) {
    this.#start = now();
  }

  /** The status text after `done` units (no bar). */
  status(done: number): string {
    const secs = (this.now() - this.#start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (this.total - done) / rate : NaN;
    return `${this.label} ${done}/${this.total}  ${rate.toFixed(2)} ${this.label}s/s  ${done >= this.total ? `done in ${formatSeconds(secs)}` : `ETA ${formatSeconds(eta)}`}`;
  }

  /** Reports that `done` units are finished. */
  update(done: number): void {
    this.#done = done;
    const text = this.status(done);
    if (this.stream.isTTY) {
      const width = 24, filled = Math.round((width * done) / this.total);
      this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      this.#open = true;
    } else {
      this.stream.write(`${text}\n`);
    }
  }

  /** Ends the line on a terminal (call once at the end, also after errors). */
  finish(): void {
    if (this.#open) this.stream.write('\n');
    this.#open = false;
  }

  /** Units reported so far. */
  get done(): number {
    return this.#done;
  }
}
