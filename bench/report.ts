/**
 * The benchmark's report: rows (one per case and backend, PyTorch's beside them), the table
 * printed for people, and the comparison with a previous `--json` report.
 */
import type { CaseParts } from './case.js';
import { CT_CASE } from './case.js';
import type { CaseSpec } from './cases.js';
import { CASE_TITLES } from './cases.js';

/** A case-row total computed from measured parts (bench/run.ts caseTotals). */
export interface CaseTotal {
  folds: number;
  mirror: boolean;
  seconds: number;
}

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
  /** CPU seconds of a timed run (median): ÷ min ≈ cores kept busy. */
  cpuSeconds?: number;
  /** The case row measured in parts, and the totals computed from them. */
  parts?: CaseParts;
  totals?: CaseTotal[];
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
  if (c.kind === 'case') {
    const w = { ...CT_CASE, ...c.workload };
    return `${modelName(c)} case ${w.shape.join('×')} at ${w.spacing.join('×')} mm, patch ${w.patch}³, ${c.mode === 'full' ? '1 fold measured in full' : 'parts'}`;
  }
  if (c.group === 'threads') return `${modelName(c)} ${title} ${c.size}³, ${c.threads} thread${c.threads === 1 ? '' : 's'}`;
  if (c.group === 'scaling') return `${modelName(c)} ${title} ${c.size}³ [scaling]`;
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
  const main = report.rows.filter((r) => r.case?.kind !== 'case' && !r.case?.group);
  for (const r of main) {
    const cells = r.error
      ? [r.label, r.backend, `n/a: ${r.error}`, '', '', '', '', '']
      : [r.label, r.backend, seconds(r.min), seconds(r.median), fmt(r.gflops, r.gflops !== undefined && r.gflops < 10 ? 2 : 1), r.sharePeak === undefined ? '' : `${(100 * r.sharePeak).toFixed(1)}%`, fmt(r.peakRssMiB, 0), ratio(r.vsTorch)];
    if (tuned) cells.push(r.error ? '' : ratio(r.vsTorchTuned));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const peaks = new Map(report.rows.filter((r) => r.peakGflops).map((r) => [r.backend, r.peakGflops!]));
  const m = report.machine;
  const extra = [renderCase(report.rows), renderScaling(report.rows), renderThreads(report.rows)].filter(Boolean);
  const out = [
    ...(main.length > 0 ? [lines.join('\n'), ''] : []),
    ...extra.flatMap((t) => [t, '']),
    `machine: ${m.cpus} × ${m.cpuModel}, Node ${m.node}; load average before ${m.loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${m.loadAfter.map((l) => l.toFixed(1)).join(' ')}`,
    `peak (float32 matMul, same process): ${[...peaks].map(([b, g]) => `${b} ${g.toFixed(1)} GFLOP/s`).join(', ')}`,
    ...report.notes,
  ];
  return out.join('\n');
}

/** Engines in the order of the rows (mnxc's backends first as run, PyTorch after). */
function engines(rows: Row[]): string[] {
  const seen = [...new Set(rows.map((r) => r.backend))];
  return [...seen.filter((b) => !b.startsWith('torch')), ...seen.filter((b) => b.startsWith('torch'))];
}

/** Seconds, with minutes past two of them and hours past two of those. */
function long(v: number | undefined): string {
  if (v === undefined) return '';
  return v >= 7200 ? `${(v / 3600).toFixed(1)} h` : v >= 120 ? `${(v / 60).toFixed(1)} min` : seconds(v);
}

/** The `case` table: measured parts per engine, then the computed and measured totals. */
export function renderCase(rows: Row[]): string {
  const parts = rows.filter((r) => r.case?.kind === 'case' && r.case.mode !== 'full');
  const full = rows.filter((r) => r.case?.kind === 'case' && r.case.mode === 'full');
  if (parts.length + full.length === 0) return '';
  const names = engines([...parts, ...full]);
  const p = (b: string) => parts.find((r) => r.backend === b);
  const first = parts.find((r) => r.parts)?.parts;
  const c = { ...CT_CASE, ...(parts[0] ?? full[0])!.case!.workload };
  const title = `case: ${c.shape.join('×')} int16 at ${c.spacing.join('×')} mm → ${first ? first.shape.join('×') : '?'} at ${c.target} mm, ${(parts[0] ?? full[0])!.label.split(' case ')[0]}, patch ${c.patch}³, step ${c.step}${first ? `, ${first.windows} windows per fold` : ''}`;
  const lines = [`| ${title} | ${names.join(' | ')} |`, `|---|${names.map(() => '---:').join('|')}|`];
  const torch = names.find((b) => b.startsWith('torch'));
  const line = (what: string, cell: (b: string) => string) => lines.push(`| ${what} | ${names.map(cell).join(' | ')} |`);
  const part = (key: keyof CaseParts) => (b: string) => {
    const r = p(b);
    if (r?.error) return `n/a: ${r.error}`;
    const v = r?.parts?.[key];
    return typeof v === 'number' ? seconds(v) : '';
  };
  const n = first?.timed_windows ?? 2;
  line('read the NIfTI (measured)', part('read_s'));
  line('preprocess: crop, resample, normalise, pad (measured)', part('preprocess_s'));
  line("load a fold's weights (measured)", part('load_weights_s'));
  line(`one window through the network, no mirroring (measured, median of ${n})`, part('window_s'));
  line(`one window, ${first?.mirrors ?? 8} mirrored passes (measured, one window)`, part('window_mirrored_s'));
  line('extract + accumulate one window (measured)', part('accumulate_s'));
  line('weighted mean (measured)', part('result_s'));
  line('export: resample back, argmax, write the label map (measured)', part('export_s'));
  line('peak RSS, MiB (measured, the process over all parts)', (b) => fmt(p(b)?.peakRssMiB, 0));
  const total = (b: string, folds: number, mirror: boolean) => p(b)?.totals?.find((t) => t.folds === folds && t.mirror === mirror)?.seconds;
  for (const [folds, mirror] of [[1, false], [1, true], [5, false], [5, true]] as const) {
    line(`**${folds} fold${folds > 1 ? 's' : ''}, ${mirror ? 'mirroring' : 'no mirroring'}: computed from measured parts**`, (b) => {
      const v = total(b, folds, mirror);
      const t = torch && b !== torch ? total(torch, folds, mirror) : undefined;
      return v === undefined ? '' : `${long(v)}${t ? ` (${(v / t).toFixed(2)}× PyTorch)` : ''}`;
    });
    if (folds === 1 && !mirror && full.length > 0)
      line('**1 fold, no mirroring: measured (the whole case, once)**', (b) => {
        const r = full.find((x) => x.backend === b);
        return r?.error ? `n/a: ${r.error}` : r?.min !== undefined ? `${long(r.min)}, ${fmt(r.peakRssMiB, 0)} MiB` : '';
      });
  }
  return lines.join('\n');
}

/** The scaling table: MedNeXt-S k3 forward and training step against the patch's voxels. */
export function renderScaling(rows: Row[]): string {
  const sc = rows.filter((r) => r.case?.group === 'scaling');
  if (sc.length === 0) return '';
  const names = engines(sc);
  const sizes = [...new Set(sc.map((r) => r.case!.size))].sort((a, b) => a - b);
  const head = ['size', 'voxels', ...names.map((b) => `forward ${b}`), ...names.map((b) => `train step ${b}`), ...names.map((b) => `peak RSS MiB ${b}`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---:').join('|')}|`];
  const find = (b: string, kind: string, size: number) => sc.find((r) => r.backend === b && r.case!.kind === kind && r.case!.size === size);
  const t = (b: string, kind: string, size: number) => {
    const r = find(b, kind, size);
    const base = find(b, kind, sizes[0]!);
    if (!r) return '';
    if (r.error) return `n/a: ${r.error}`;
    // ×N: time ÷ time at the smallest size (voxels grow by (size / smallest)³)
    return `${seconds(r.min)}${base?.min && size !== sizes[0] ? ` (×${(r.min! / base.min).toFixed(1)})` : ''}`;
  };
  for (const size of sizes) {
    const rss = (b: string) => fmt(Math.max(find(b, 'forward', size)?.peakRssMiB ?? 0, find(b, 'train', size)?.peakRssMiB ?? 0) || undefined, 0);
    lines.push(`| ${size}³ | ${(size ** 3 / 1e6).toFixed(2)} M (×${((size / sizes[0]!) ** 3).toFixed(0)}) | ${[...names.map((b) => t(b, 'forward', size)), ...names.map((b) => t(b, 'train', size)), ...names.map(rss)].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The threading table: 1 thread against 2 per engine. */
export function renderThreads(rows: Row[]): string {
  const th = rows.filter((r) => r.case?.group === 'threads');
  if (th.length === 0) return '';
  const model = th[0]!.label.replace(/ (forward|train step) .*$/, '');
  const lines = [`| threads: ${model} ${th[0]!.case!.size}³ | backend | 1 thread | 2 threads | speed-up | efficiency | cores busy (1 / 2 threads) |`, '|---|---|---:|---:|---:|---:|---:|'];
  for (const kind of ['forward', 'train']) {
    for (const b of engines(th)) {
      const one = th.find((r) => r.backend === b && r.case!.kind === kind && r.case!.threads === 1);
      const two = th.find((r) => r.backend === b && r.case!.kind === kind && r.case!.threads === 2);
      if (!one && !two) continue;
      const err = one?.error ?? two?.error;
      if (err) {
        lines.push(`| ${CASE_TITLES[kind]} | ${b} | n/a: ${err} | | | | |`);
        continue;
      }
      const speedup = one?.min && two?.min ? one.min / two.min : undefined;
      const busy = (r: Row | undefined) => (r?.cpuSeconds !== undefined && r.median ? (r.cpuSeconds / r.median).toFixed(2) : '–');
      lines.push(`| ${CASE_TITLES[kind]} | ${b} | ${seconds(one?.min)} | ${seconds(two?.min)} | ${speedup ? `${speedup.toFixed(2)}×` : ''} | ${speedup ? `${((100 * speedup) / 2).toFixed(0)} %` : ''} | ${busy(one)} / ${busy(two)} |`);
    }
  }
  return lines.join('\n');
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
