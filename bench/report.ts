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
  machine: {
    cpus: number;
    cpuModel: string;
    node: string;
    loadBefore: number[];
    loadAfter: number[];
    /** When the run started (`date` is when the report was written), ISO. */
    started?: string;
    /** Highest 1-minute load average seen after a row (the bench's own threads count: ≈ 2 on 2 cores). */
    loadPeak?: number;
    /** Vector extensions the kernels may use (Linux /proc/cpuinfo). */
    cpuFlags?: string[];
    memoryGiB?: number;
  };
  /** Wall seconds per phase (bench/run.ts phaseOrder) and engine: what each part of the run cost. */
  wall?: { phase: string; engine: string; seconds: number }[];
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

/** What each phase of the run took, per engine (processes started and ended included), and in all. */
export function renderWall(report: Report): string {
  const w = report.wall ?? [];
  if (w.length === 0) return '';
  const min = (sec: number) => `${(sec / 60).toFixed(1)} min`;
  const phases = [...new Set(w.map((x) => x.phase))];
  const parts = phases.map((p) => {
    const xs = w.filter((x) => x.phase === p);
    return `${p} ${min(xs.reduce((a, x) => a + x.seconds, 0))} (${xs.map((x) => `${x.engine} ${min(x.seconds)}`).join(', ')})`;
  });
  return `wall time: ${min(w.reduce((a, x) => a + x.seconds, 0))} in all; ${parts.join('; ')}`;
}

/** The speed targets: mnxc's time ÷ PyTorch's (glibc tuned) at most this, per backend. */
export const TARGETS: Record<string, number> = { tensorflow: 0.8, native: 1.0 };
/** Where the targets must hold: these sizes, models and kinds (MedNeXt, examples/mednext.mnx). */
export const TARGET_SIZES = [64, 128];
export const TARGET_MODELS = ['S k3', 'B k5'];
export const TARGET_KINDS = ['forward', 'train', 'sliding'];

/** A MedNeXt forward, training-step or sliding-window row of the main table (where the targets apply). */
function isTargetRow(r: Row): boolean {
  return r.case?.spec === 'examples/mednext.mnx' && !r.case.group && TARGET_KINDS.includes(r.case.kind);
}

const ratio = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(2)}×`);

/** `≤ 0.8×: yes` / `≤ 0.8×: NO` for a target row of a backend with a target, else ''. */
function targetCell(r: Row): string {
  const limit = TARGETS[r.backend];
  if (limit === undefined || !isTargetRow(r) || r.vsTorchTuned === undefined) return '';
  return `≤ ${limit.toFixed(1)}×: ${r.vsTorchTuned <= limit ? 'yes' : 'NO'}`;
}

/** `2026-12-06 10:02` (UTC) of an ISO date. */
const when = (iso: string) => iso.slice(0, 16).replace('T', ' ');

/** The machine and its load: what every number of the report depends on. */
export function renderMachine(report: Report): string {
  const m = report.machine;
  const loads = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const end = when(report.date);
  const span = m.started ? `${when(m.started)}–${when(m.started).slice(0, 10) === end.slice(0, 10) ? end.slice(11) : end} UTC` : `${end} UTC`;
  const flags = m.cpuFlags?.length ? ` (${m.cpuFlags.join(' ')})` : '';
  return (
    `machine: ${m.cpus} cores × ${m.cpuModel}${flags}${m.memoryGiB ? `, ${m.memoryGiB} GiB memory` : ''}, Node ${m.node}; run ${span}; ` +
    `load average (1, 5, 15 min) before ${loads(m.loadBefore)}, after ${loads(m.loadAfter)}` +
    (m.loadPeak !== undefined ? `, highest 1-min after a row ${m.loadPeak.toFixed(2)} (the bench itself keeps about ${m.cpus} busy)` : '')
  );
}

/**
 * The targets table: one line per MedNeXt configuration, each backend's time and ÷ PyTorch (glibc
 * tuned) against its target, then whether every configuration the targets name was measured and met.
 */
export function renderTargets(rows: Row[]): string {
  const target = rows.filter(isTargetRow);
  const backends = Object.keys(TARGETS).filter((b) => target.some((r) => r.backend === b));
  if (backends.length === 0) return '';
  const labels = [...new Set(target.map((r) => r.label))];
  const torch = (label: string) => target.find((r) => r.label === label && r.backend.startsWith('torch') && r.backend.endsWith('glibc tuned'));
  const head = ['speed targets: mnxc ÷ PyTorch (glibc tuned)', 'PyTorch, tuned', ...backends.flatMap((b) => [b, `÷ PyTorch`, `≤ ${TARGETS[b]!.toFixed(1)}×`])];
  const lines = [`| ${head.join(' | ')} |`, `|---|${head.slice(1).map(() => '---:').join('|')}|`];
  const met: Record<string, number> = {};
  const over: Record<string, string[]> = {};
  for (const label of labels) {
    const t = torch(label);
    const cells = [label, t?.error ? `n/a: ${t.error}` : seconds(t?.min)];
    for (const b of backends) {
      const r = target.find((x) => x.label === label && x.backend === b);
      const cell = r ? targetCell(r) : '';
      cells.push(r?.error ? `n/a: ${r.error}` : seconds(r?.min), ratio(r?.vsTorchTuned), cell.replace(/^.*: /, ''));
      if (cell.endsWith('yes')) met[b] = (met[b] ?? 0) + 1;
      else (over[b] ??= []).push(label.replace(/^mednext-/, ''));
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const verdict = backends.map((b) => `${b} ≤ ${TARGETS[b]!.toFixed(1)}× in ${met[b] ?? 0} of ${labels.length}${over[b]?.length ? ` (not: ${over[b]!.join('; ')})` : ''}`);
  // every configuration the targets name, with a ratio for each backend that has a target
  const missing: string[] = [];
  for (const size of TARGET_SIZES)
    for (const model of TARGET_MODELS)
      for (const kind of TARGET_KINDS) {
        const have = (b: string) => target.some((r) => r.backend === b && r.vsTorchTuned !== undefined && r.case!.kind === kind && r.case!.size === size && r.label.startsWith(`mednext-${model} `));
        const lacking = Object.keys(TARGETS).filter((b) => !have(b));
        if (lacking.length > 0) missing.push(`${model} ${CASE_TITLES[kind]} ${size}³ (${lacking.join(', ')})`);
      }
  const complete = missing.length === 0 ? 'every configuration the targets name was measured' : `not measured against PyTorch (tuned): ${missing.join('; ')}`;
  return `${lines.join('\n')}\n\ntargets met: ${verdict.join('; ')}. ${complete}.`;
}

/** The report for people: machine, targets, the main tables (one per size, op rows last), case, scaling, threads, notes. */
export function renderTable(report: Report): string {
  const main = report.rows.filter((r) => r.case?.kind !== 'case' && !r.case?.group);
  const vs = main.some((r) => r.vsTorch !== undefined);
  const tuned = main.some((r) => r.vsTorchTuned !== undefined);
  const targets = main.some((r) => targetCell(r) !== '');
  // one table per cube edge of the model rows (rows are sorted by size), the op rows last
  const groups = new Map<string, Row[]>();
  for (const r of main) {
    const g = r.case?.spec ? `${r.case.size}${r.case.dims === 2 ? '²' : '³'}` : 'ops';
    groups.set(g, [...(groups.get(g) ?? []), r]);
  }
  const tables = [...groups].map(([g, rs]) => {
    const head = [g === 'ops' ? 'operation' : `configuration (${g})`, 'backend', 'min', 'median', 'GFLOP/s', '% of peak', 'peak RSS MiB', ...(vs ? ['÷ PyTorch'] : []), ...(tuned ? ['÷ tuned'] : []), ...(targets ? ['target'] : [])];
    const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
    for (const r of rs) {
      const cells = r.error
        ? [r.label, r.backend, `n/a: ${r.error}`, '', '', '', '']
        : [r.label, r.backend, seconds(r.min), seconds(r.median), fmt(r.gflops, r.gflops !== undefined && r.gflops < 10 ? 2 : 1), r.sharePeak === undefined ? '' : `${(100 * r.sharePeak).toFixed(1)}%`, fmt(r.peakRssMiB, 0)];
      if (vs) cells.push(r.error ? '' : ratio(r.vsTorch));
      if (tuned) cells.push(r.error ? '' : ratio(r.vsTorchTuned));
      if (targets) cells.push(targetCell(r));
      lines.push(`| ${cells.join(' | ')} |`);
    }
    return lines.join('\n');
  });
  const peaks = new Map(report.rows.filter((r) => r.peakGflops).map((r) => [r.backend, r.peakGflops!]));
  const extra = [renderTargets(report.rows), ...tables, renderCase(report.rows), renderScaling(report.rows), renderThreads(report.rows)].filter(Boolean);
  const out = [
    renderMachine(report),
    '',
    ...extra.flatMap((t) => [t, '']),
    `peak (float32 matMul, same process): ${[...peaks].map(([b, g]) => `${b} ${g.toFixed(1)} GFLOP/s`).join(', ')}`,
    ...(report.wall?.length ? [renderWall(report)] : []),
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
  // the scaling group's rows, and the main rows measured at a scaling size (bench/run.ts scalingFromMain)
  const sc = rows.filter((r) => r.case?.group === 'scaling' || r.case?.scaling);
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
