import { writeFileAtomic } from '../io/atomic.js';
import type { EvaluationSummary } from './evaluate-folder.js';
import { METRIC_NAMES } from './metrics.js';

/** JSON has no NaN: NaN (and ±Infinity) are written as null. */
export function summaryJson(summary: EvaluationSummary): string {
  return JSON.stringify(summary, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per case and class, then one `mean` row per class; NaN is written as `NaN`. */
export function summaryCsv(summary: EvaluationSummary): string {
  const num = (v: number) => (Number.isNaN(v) ? 'NaN' : String(v));
  const rows = [['case', 'class', ...METRIC_NAMES].join(',')];
  for (const c of summary.cases) {
    for (const [name, m] of Object.entries(c.metrics)) rows.push([csvField(c.case), csvField(name), ...METRIC_NAMES.map((k) => num(m[k]))].join(','));
  }
  for (const [name, m] of Object.entries(summary.mean)) rows.push(['mean', csvField(name), ...METRIC_NAMES.map((k) => num(m[k]))].join(','));
  return rows.join('\n') + '\n';
}

/** The CSV goes beside the JSON: `summary.json` → `summary.csv`. */
export function csvPathFor(jsonPath: string): string {
  return jsonPath.replace(/\.json$/i, '') + '.csv';
}

export function writeSummary(jsonPath: string, summary: EvaluationSummary): string {
  const csvPath = csvPathFor(jsonPath);
  writeFileAtomic(csvPath, summaryCsv(summary));
  writeFileAtomic(jsonPath, summaryJson(summary));
  return csvPath;
}
