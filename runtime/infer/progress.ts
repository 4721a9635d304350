import { ProgressBar } from '../io/progress.js';

/**
 * Progress over windows and cases on stderr: redrawn in place on a terminal; elsewhere (logs, CI)
 * at most one line every few seconds plus one per finished case, so a log stays readable.
 */
export class PredictProgress {
  private readonly bar: ProgressBar;

  constructor(private readonly cases: number, intervalMs = 5000) {
    this.bar = new ProgressBar({ intervalMs });
  }

  window(caseIndex: number, id: string, fold: string, done: number, total: number, folds: number, foldIndex: number): void {
    const overall = (foldIndex * total + done) / (total * folds);
    this.bar.show(overall, `predict case ${caseIndex + 1}/${this.cases} ${id}`, `fold ${fold} window ${done}/${total}`);
  }

  /** A message that stays (one per case). */
  log(message: string): void {
    this.bar.log(message);
  }
}
