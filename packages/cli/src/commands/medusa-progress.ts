// A progress bar on stderr: redrawn in place on a terminal, a line per quarter otherwise (logs, tests).

export interface ProgressBar {
  /** Shows `label` at done/total, with an optional note after the counts. */
  update(label: string, done: number, total: number, note?: string): void;
  /** Ends the current bar's line. */
  finish(): void;
}

export function createProgressBar(stream: NodeJS.WriteStream = process.stderr, width = 28): ProgressBar {
  const tty = stream.isTTY === true;
  let lastLabel = '';
  let lastQuarter = -1;
  let lastDraw = 0;
  let open = false;
  return {
    update(label, done, total, note) {
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const text = `${label} ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}${note === undefined ? '' : ` ${note}`}`;
      if (label !== lastLabel) {
        if (open && tty) stream.write('\n');
        lastLabel = label;
        lastQuarter = -1;
      }
      if (tty) {
        const now = Date.now();
        if (now - lastDraw < 100 && frac < 1) return;
        lastDraw = now;
        const filled = Math.round(frac * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${text}\x1b[K`);
        open = true;
      } else {
        const quarter = Math.floor(frac * 4);
        if (quarter === lastQuarter) return;
        lastQuarter = quarter;
        stream.write(`${(frac * 100).toFixed(0).padStart(3)}% ${text}\n`);
      }
    },
    finish() {
      if (open && tty) stream.write('\n');
      open = false;
      lastLabel = '';
    },
  };
}
