// A one-line progress bar on stderr, `[#####.....] 12/200 tokens 3.1 s`: redrawn in place with \r
// on a terminal; elsewhere (logs, pipes, tests) nothing but the final line.

export interface ProgressBar {
  /** `n` of the total are done. */
  update(n: number): void;
  /** Ends the bar: the last state and `summary` on a line of their own. */
  done(summary?: string): void;
}

export interface ProgressOptions {
  /** Default: process.stderr. */
  stream?: { write(s: string): unknown; isTTY?: boolean };
  /** Redraw in place (default: whether `stream` is a terminal). */
  tty?: boolean;
  /** Characters inside the brackets (default 20). */
  width?: number;
}

/** The least time between two redraws on a terminal. */
const REDRAW_MS = 100;

export function progressBar(label: string, total: number, options: ProgressOptions = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const width = options.width ?? 20;
  const start = performance.now();
  let n = 0;
  let lastDraw = -Infinity;
  let finished = false;

  const line = (): string => {
    const frac = total > 0 ? Math.min(1, Math.max(0, n / total)) : 1;
    const filled = Math.round(frac * width);
    const seconds = (performance.now() - start) / 1000;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total} ${label} ${seconds.toFixed(1)} s`;
  };
  return {
    update(value) {
      if (finished) return;
      n = value;
      if (!tty) return;
      const now = performance.now();
      if (now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      stream.write(`\r${line()}\x1b[K`);
    },
    done(summary) {
      if (finished) return;
      finished = true;
      const text = summary === undefined || summary === '' ? line() : `${line()} ${summary}`;
      stream.write(tty ? `\r${text}\x1b[K\n` : `${text}\n`);
    },
  };
}
