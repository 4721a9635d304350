import type { SourceMap } from '../source.js';
import { formatSpan } from '../source.js';
import type { Diagnostic } from './diagnostic.js';

/**
 * Renders a diagnostic as text:
 *   file:line:col: error MNX2001: unknown name 'n_chanels'. Did you mean 'n_channels'?
 *      12 |   x = conv(x, out: n_chanels)
 *         |                    ~~~~~~~~~
 *     in iteration i = 2 of the loop at file:10:3
 */
const MAX_SHOWN = 120;
const MAX_RENDERED = 200;

export function renderDiagnostic(d: Diagnostic, sources: SourceMap): string {
  const out = [`${formatSpan(d.span)}: ${d.severity} ${d.code}: ${d.message}`];
  const text = sources.line(d.span.file, d.span.line);
  if (text !== null) {
    const gutter = String(d.span.line).padStart(5);
    let clean = text.replace(/\t/g, ' ');
    let start = Math.max(0, d.span.col - 1);
    let len = Math.max(1, Math.min(d.span.length, clean.length - start || 1));
    // Very long lines (generated or hostile input): show a window around the span.
    if (clean.length > MAX_SHOWN) {
      const from = Math.max(0, start - 40);
      clean = (from > 0 ? '…' : '') + clean.slice(from, from + MAX_SHOWN - 2) + (from + MAX_SHOWN - 2 < clean.length ? '…' : '');
      start = start - from + (from > 0 ? 1 : 0);
      len = Math.max(1, Math.min(len, clean.length - start));
    }
    out.push(`${gutter} | ${clean}`);
    out.push(`${' '.repeat(gutter.length)} | ${' '.repeat(start)}${'~'.repeat(len)}`);
  }
  const chain = [...d.origin].reverse();
  // Deep chains (recursion, many nested loops): the innermost and outermost steps say enough.
  const shown = chain.length > 8 ? [...chain.slice(0, 4), null, ...chain.slice(-3)] : chain;
  for (const step of shown) out.push(step ? `  ${step.what} at ${formatSpan(step.span)}` : `  … ${chain.length - 7} more steps`);
  for (const note of d.notes) out.push(`  note: ${note}`);
  return out.join('\n');
}

export function renderDiagnostics(ds: Diagnostic[], sources: SourceMap): string {
  const errors = ds.filter((d) => d.severity === 'error').length;
  const warnings = ds.length - errors;
  // Hostile input can produce hundreds of thousands; the first ones say what is wrong.
  const shown = ds.slice(0, MAX_RENDERED);
  const body = shown.map((d) => renderDiagnostic(d, sources)).join('\n\n') + (ds.length > shown.length ? `\n\n… and ${ds.length - shown.length} more` : '');
  const tail = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
  return ds.length ? `${body}\n\n${tail}\n` : '';
}
