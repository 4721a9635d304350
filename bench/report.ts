/**
 * The benchmark's report: rows (one per case and backend, PyTorch's beside them), the table
 * printed for people, and the comparison with a previous `--json` report.
 */
import type { CaseSpec } from './cases.js';
import { CASE_TITLES } from './cases.js';

export interface Row {
  /** Stable identity of the configuration across runs: `label @ backend`. */
  key: string;
  label: string;
  backend: string;
  case?: CaseSpec;
  seconds?: number[];
  min?: number;
  median?: number;
  flops?: number;
  /** FLOPs / min seconds. */
  gflops?: number;
  /** The backend's float32 matMul peak measured in the same process. */
  peakGflops?: number;
  /** gflops / peakGflops. */
  sharePeak?: number;
  peakRssMiB?: number;
  info?: Record<string, number | string>;
  error?: string;
  /** min / PyTorch's min for the same label, where PyTorch ran. */
  vsTorch?: number;
  /** min / the min of PyTorch run with glibc tuned (bench/run.ts TORCH_MALLOC). */
  vsTorchTuned?: number;
}

export interface Report {
  version: 1;
  date: string;
  machine: { cpus: number; cpuModel: string; node: string; loadBefore: number[]; loadAfter: number[] };
  notes: string[];
  rows: Row[];
}

export function caseLabel(c: CaseSpec): string {
  const title = CASE_TITLES[c.kind] ?? c.kind;
  if (c.kind === 'sliding') return `${modelName(c)} ${title} ${c.volume!.join('×')}, patch ${c.patch!.join('×')}`;
  if (c.spec) return `${modelName(c)} ${title} ${c.size}${c.dims === 2 ? '²' : '³'}`;
  const size = c.kind.startsWith('up_') ? `${c.size >> 1}³→${c.size - 1}³` : `${c.size}³`;
  return `${title} ${size}×${c.channels ?? 32}`;
}

function modelName(c: CaseSpec): string {
  const k = (c.set ?? []).find((s) => s.startsWith('kernel_size='))?.split('=')[1];
  const base = c.spec!.replace(/^.*\//, '').replace(/\.mnx$/, '');
  return `${base}${c.variant ? `-${c.variant}` : ''}${k ? ` k${k}` : ''}`;
}

const fmt = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits));

function seconds(v: number | undefined): string {
  if (v === undefined) return '';
  return v < 0.1 ? `${(v * 1000).toFixed(1)} ms` : `${v.toFixed(v < 10 ? 2 : 1)} s`;
}

/** Markdown table of the rows, in order. */
export function renderTable(report: Report): string {
  const tuned = report.rows.some((r) => r.vsTorchTuned !== undefined);
  const head = ['configuration', 'backend', 'min', 'median', 'GFLOP/s', '% of peak', 'peak RSS MiB', '÷ PyTorch', ...(tuned ? ['÷ tuned'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  const ratio = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(2)}×`);
  for (const r of report.rows) {
    const cells = r.error
      ? [r.label, r.backend, `n/a: ${r.error}`, '', '', '', '', '']
      : [r.label, r.backend, seconds(r.min), seconds(r.median), fmt(r.gflops, r.gflops !== undefined && r.gflops < 10 ? 2 : 1), r.sharePeak === undefined ? '' : `${(100 * r.sharePeak).toFixed(1)}%`, fmt(r.peakRssMiB, 0), ratio(r.vsTorch)];
    if (tuned) cells.push(r.error ? '' : ratio(r.vsTorchTuned));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const peaks = new Map(report.rows.filter((r) => r.peakGflops).map((r) => [r.backend, r.peakGflops!]));
  const m = report.machine;
  const out = [
    lines.join('\n'),
    '',
    `machine: ${m.cpus} × ${m.cpuModel}, Node ${m.node}; load average before ${m.loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${m.loadAfter.map((l) => l.toFixed(1)).join(' ')}`,
    `peak (float32 matMul, same process): ${[...peaks].map(([b, g]) => `${b} ${g.toFixed(1)} GFLOP/s`).join(', ')}`,
    ...report.notes,
  ];
  return out.join('\n');
}

/** min(new) / min(old) for every configuration both reports have; below 1 is faster. */
export function renderComparison(report: Report, previous: Report): string {
  const old = new Map(previous.rows.map((r) => [r.key, r]));
  const lines = ['| configuration | backend | before | now | now ÷ before |', '|---|---|---:|---:|---:|'];
  let matched = 0;
  for (const r of report.rows) {
    const o = old.get(r.key);
    if (!o || r.min === undefined || o.min === undefined) continue;
    matched++;
    lines.push(`| ${r.label} | ${r.backend} | ${seconds(o.min)} | ${seconds(r.min)} | ${(r.min / o.min).toFixed(2)}× |`);
  }
  if (matched === 0) return 'compare: no configuration in common with the previous report';
  return lines.join('\n');
}

/** Checks that a parsed file is a report this version wrote. */
export function asReport(value: unknown, what: string): Report {
  const r = value as Report;
  if (!r || typeof r !== 'object' || r.version !== 1 || !Array.isArray(r.rows)) throw new Error(`${what} is not a benchmark report (--json output of npm run bench)`);
  return r;
}
