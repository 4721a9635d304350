/**
 * The one progress bar on stderr: `BEFORE [#####-----] AFTER`, redrawn in place on a terminal;
 * elsewhere (logs, CI) one line per update, at most one every `intervalMs` when that is set
 * (a complete bar always), or nothing at all with `onlyOnTerminal`.
 */
export class ProgressBar {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastLine = 0;

  constructor(private readonly options: { intervalMs?: number; onlyOnTerminal?: boolean; width?: number } = {}) {}

  /** Draws the bar at `fraction` (0..1); `final` ends the line on a terminal. */
  show(fraction: number, before: string, after: string, final = false): void {
    const { intervalMs, onlyOnTerminal, width = 24 } = this.options;
    if (!this.tty && onlyOnTerminal) return;
    const now = Date.now();
    if (!this.tty && intervalMs !== undefined && now - this.lastLine < intervalMs && fraction < 1) return;
    this.lastLine = now;
    const filled = Math.round(fraction * width);
    const line = `${before} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${after}`;
    process.stderr.write(this.tty ? `\r\x1b[2K${line}${final ? '\n' : ''}` : line + '\n');
  }

  /** A message that stays (the bar is cleared first on a terminal). */
  log(message: string): void {
    process.stderr.write((this.tty ? '\r\x1b[2K' : '') + message + '\n');
  }
}

/** A bar over `total` steps, e.g. `preprocess [###---] 3/8 case_003 1.2 s`. */
export class Progress {
  private readonly bar = new ProgressBar();
  constructor(private readonly label: string, private readonly total: number) {}

  update(done: number, note: string): void {
    this.bar.show(this.total === 0 ? 1 : done / this.total, this.label, `${done}/${this.total} ${note}`, done === this.total);
  }

  log(message: string): void {
    this.bar.log(message);
  }
}
