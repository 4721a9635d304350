import type { SourceSpan } from '../ir/types.js';

/** Source texts by file name, so diagnostics can show the line they point at. */
export class SourceMap {
  private readonly texts = new Map<string, string[]>();

  add(file: string, text: string): void {
    this.texts.set(file, text.split(/\r?\n/));
  }

  line(file: string, line: number): string | null {
    return this.texts.get(file)?.[line - 1] ?? null;
  }

  /** Names of every source held (files read, and pseudo-files like the command line). */
  files(): string[] {
    return [...this.texts.keys()];
  }
}

export function spanAt(file: string, line: number, col: number, length = 1): SourceSpan {
  return { file, line: Number.isFinite(line) ? line : 1, col: Number.isFinite(col) ? col : 1, length: Math.max(1, length) };
}

export function formatSpan(s: SourceSpan): string {
  return `${s.file}:${s.line}:${s.col}`;
}
