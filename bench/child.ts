/**
 * One benchmark configuration in its own process, so its peak resident memory is its own.
 *
 *   tsx bench/child.ts --backend B --case JSON [--case JSON …] [--reps N] [--peak-size N]
 *
 * For each case: one warm-up run, then `reps` timed runs; afterwards the machine's peak on this
 * backend, a large float32 matMul. Prints one `BENCH_RESULT {json}` line per case on stdout
 * (TensorFlow's own logging goes to stderr); a case that fails prints its error instead.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName } from '../runtime/backend.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CT_CASE, measureCaseFull, measureCaseParts, writeCaseFiles, type CaseParts } from './case.js';
import { prepareCase, type CaseSpec } from './cases.js';

export const RESULT_MARK = 'BENCH_RESULT ';

export interface CaseResult {
  case: CaseSpec;
  backend: string;
  /** Seconds of each timed run, in order. */
  seconds?: number[];
  min?: number;
  median?: number;
  flops?: number;
  /** Peak resident memory of the process so far, MiB (cumulative when several cases share a child). */
  peakRssMiB?: number;
  info?: Record<string, number | string>;
  /** CPU seconds (user + system) of the process per timed run, median: ÷ seconds = cores kept busy. */
  cpuSeconds?: number;
  /** The `case` row: its measured parts (kind 'case', mode 'parts'). */
  parts?: CaseParts;
  error?: string;
}

/** Best GFLOP/s of a square float32 matMul on the current backend. */
export async function matMulPeak(n: number, reps = 3): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 5);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 6);
  let best = Infinity;
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const y = tf.matMul(a, b);
    await y.data();
    y.dispose();
    if (i > 0) best = Math.min(best, (performance.now() - t0) / 1000);
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / best / 1e9;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The `case` row (bench/case.ts): the scan and run folder written, then measured in parts or in full. */
async function runCaseRow(spec: CaseSpec, backend: BackendName): Promise<CaseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mnxc-bench-case-'));
  try {
    const w = { ...CT_CASE, ...spec.workload };
    const log = (l: string) => process.stderr.write(`  [case ${backend}] ${l}\n`);
    const files = writeCaseFiles(dir, w);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    if (spec.mode === 'full') {
      const r = await measureCaseFull(files, join(dir, 'out'), log);
      const cpu = process.cpuUsage(c0);
      return { case: spec, backend, seconds: [r.seconds], min: r.seconds, median: r.seconds, flops: 0, peakRssMiB: process.resourceUsage().maxRSS / 1024, cpuSeconds: (cpu.user + cpu.system) / 1e6, info: { windows: r.windows, per_window_s: Number(r.per_window_s.toFixed(3)) } };
    }
    const parts = await measureCaseParts(files, spec.timedWindows ?? 2, spec.mirror ?? true, dir, log);
    const s = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    return { case: spec, backend, seconds: [s], min: s, median: s, flops: 0, peakRssMiB: process.resourceUsage().maxRSS / 1024, cpuSeconds: (cpu.user + cpu.system) / 1e6, parts, info: { windows: parts.windows } };
  } catch (e) {
    return { case: spec, backend, error: ((e as Error).message ?? String(e)).split('\n')[0]!.slice(0, 160) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runCase(spec: CaseSpec, backend: BackendName, reps: number): Promise<CaseResult> {
  if (spec.kind === 'case') return runCaseRow(spec, backend);
  try {
    const c = prepareCase(spec);
    try {
      await (c.warmUp ?? c.run)();
      const seconds: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < reps; i++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await c.run();
        seconds.push((performance.now() - t0) / 1000);
        const u = process.cpuUsage(c0);
        cpu.push((u.user + u.system) / 1e6);
      }
      return { case: spec, backend, seconds, min: Math.min(...seconds), median: median(seconds), flops: c.flops, peakRssMiB: process.resourceUsage().maxRSS / 1024, cpuSeconds: median(cpu), info: c.info };
    } finally {
      c.dispose();
    }
  } catch (e) {
    return { case: spec, backend, error: ((e as Error).message ?? String(e)).split('\n')[0]!.slice(0, 160) };
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'auto' },
      case: { type: 'string', multiple: true },
      reps: { type: 'string', default: '3' },
      'peak-size': { type: 'string', default: '1024' },
    },
  });
  const backend = await useBackend(values.backend as BackendName);
  const reps = Math.max(1, Number(values.reps));
  const results: CaseResult[] = [];
  for (const text of values.case ?? []) {
    const spec = JSON.parse(text) as CaseSpec;
    results.push(await runCase(spec, backend, spec.reps ?? reps));
  }
  const peak = await matMulPeak(Number(values['peak-size']));
  for (const r of results) process.stdout.write(`${RESULT_MARK}${JSON.stringify({ ...r, peakGflops: peak })}\n`);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await main();
