import type { OriginStep, SourceSpan } from '../../ir/types.js';
import { Messages, format, type MessageKey } from './catalogue.js';

/** Diagnostics are data, never exceptions: passes push them into a bag and carry on. */
export interface Diagnostic {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  span: SourceSpan;
  /** The chain of expansions (loop iteration, repetition, variant, scaling rule) back to what the user wrote. */
  origin: OriginStep[];
  notes: string[];
}

export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  add(key: MessageKey, span: SourceSpan, args: (string | number)[] = [], origin: OriginStep[] = [], notes: string[] = []): Diagnostic {
    const m = Messages[key];
    const d: Diagnostic = { code: m.code, severity: m.severity, message: format(m.text, args), span, origin: [...origin], notes };
    this.items.push(d);
    return d;
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === 'error').length;
  }

  get hasErrors(): boolean {
    return this.errorCount > 0;
  }
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

/** ". Did you mean 'x'?" for the closest candidate within a third of the name's length, else "". */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(name.toLowerCase(), c.toLowerCase());
    if (dd < bestD) {
      bestD = dd;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(1, Math.floor(name.length / 3)) ? `. Did you mean '${best}'?` : '';
}
