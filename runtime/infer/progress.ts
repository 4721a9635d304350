/**
 * Progress over windows and cases on stderr: redrawn in place on a terminal; elsewhere (logs, CI)
 * at most one line every few seconds plus one per finished case, so a log stays readable.
 */
export class PredictProgress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastLine = 0;

  constructor(private readonly cases: number, private readonly intervalMs = 5000) {}

  window(caseIndex: number, id: string, fold: string, done: number, total: number, folds: number, foldIndex: number): void {
    const overall = (foldIndex * total + done) / (total * folds);
    const now = Date.now();
    if (!this.tty && now - this.lastLine < this.intervalMs && overall < 1) return;
    this.lastLine = now;
    const width = 24;
    const filled = Math.round(overall * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const line = `predict case ${caseIndex + 1}/${this.cases} ${id} [${bar}] fold ${fold} window ${done}/${total}`;
    process.stderr.write(this.tty ? `\r\x1b[2K${line}` : line + '\n');
  }

  /** A message that stays (one per case). */
  log(message: string): void {
    process.stderr.write((this.tty ? '\r\x1b[2K' : '') + message + '\n');
  }
}
