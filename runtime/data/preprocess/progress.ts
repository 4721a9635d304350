/** A one-line progress bar on stderr (redrawn in place on a terminal, one line per step otherwise). */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  constructor(private readonly label: string, private readonly total: number) {}

  update(done: number, note: string): void {
    const width = 24;
    const filled = this.total === 0 ? width : Math.round((done / this.total) * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const line = `${this.label} [${bar}] ${done}/${this.total} ${note}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}${done === this.total ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  }

  /** A message that must not be overwritten by the bar. */
  log(message: string): void {
    process.stderr.write((this.tty ? '\r\x1b[2K' : '') + message + '\n');
  }
}
