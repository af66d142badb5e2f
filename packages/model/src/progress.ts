// The one progress display of octoserve: a line on stderr redrawn in place on a terminal
// (`[#####.....] 12/200 tokens 3.1 s`), and elsewhere (logs, pipes, tests) nothing but the
// final line, or a line per step of `logEvery` of the total when that is asked for.

/** Where progress goes: process.stderr, or a capture in a test. */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

/** One line redrawn in place on a terminal (`\r`, then clear to the end of the line). */
export interface LiveLine {
  /** Shows `text`: redrawn on a terminal, a line of its own elsewhere. */
  show(text: string): void;
  /** On a terminal: clears the line (`keep` ends it instead, leaving the text). */
  end(keep?: boolean): void;
}

export function liveLine(stream: ProgressStream = process.stderr, tty = stream.isTTY === true): LiveLine {
  let open = false;
  return {
    show(text) {
      stream.write(tty ? `\r${text}\x1b[K` : `${text}\n`);
      open = tty;
    },
    end(keep = false) {
      if (open) stream.write(keep ? '\n' : '\r\x1b[K');
      open = false;
    },
  };
}

export interface ProgressBar {
  /** `n` of the total are done; `note` goes after the counts. */
  update(n: number, note?: string): void;
  /** Ends the bar: the last state and `summary` on a line of their own. Later calls do nothing. */
  done(summary?: string): void;
}

export interface ProgressOptions {
  /** Default: process.stderr. */
  stream?: ProgressStream;
  /** Redraw in place (default: whether `stream` is a terminal). */
  tty?: boolean;
  /** Characters inside the brackets (default 20). */
  width?: number;
  /** How a count is written (default: with thousands separators). */
  count?: (n: number) => string;
  /**
   * Not on a terminal: also write `pct% label n/total` each time another `logEvery` of the
   * total is done (0.25: a line per quarter). Default 0: only the final line.
   */
  logEvery?: number;
}

/** The least time between two redraws on a terminal. */
const REDRAW_MS = 100;

export function progressBar(label: string, total: number, options: ProgressOptions = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const width = options.width ?? 20;
  const count = options.count ?? ((n: number) => n.toLocaleString('en-US'));
  const logEvery = options.logEvery ?? 0;
  const line = liveLine(stream, tty);
  const start = performance.now();
  let n = 0;
  let note: string | undefined;
  let lastDraw = -Infinity;
  let lastLogged = -1;
  let finished = false;

  const fraction = (): number => (total > 0 ? Math.min(1, Math.max(0, n / total)) : 1);
  const counts = (): string => `${count(n)}/${count(total)} ${label}`;
  const text = (): string => {
    const filled = Math.round(fraction() * width);
    const seconds = (performance.now() - start) / 1000;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${counts()} ${seconds.toFixed(1)} s${note === undefined ? '' : ` ${note}`}`;
  };
  const log = (): void => {
    const step = Math.floor(fraction() / logEvery);
    if (step === lastLogged) return;
    lastLogged = step;
    stream.write(`${(fraction() * 100).toFixed(0).padStart(3)}% ${label} ${count(n)}/${count(total)}${note === undefined ? '' : ` ${note}`}\n`);
  };
  return {
    update(value, withNote) {
      if (finished) return;
      n = value;
      note = withNote;
      if (!tty) {
        if (logEvery > 0) log();
        return;
      }
      const now = performance.now();
      if (now - lastDraw < REDRAW_MS && fraction() < 1) return;
      lastDraw = now;
      line.show(text());
    },
    done(summary) {
      if (finished) return;
      finished = true;
      if (logEvery > 0 && !tty) {
        log();
        return;
      }
      const last = summary === undefined || summary === '' ? text() : `${text()} ${summary}`;
      stream.write(tty ? `\r${last}\x1b[K\n` : `${last}\n`);
    },
  };
}
