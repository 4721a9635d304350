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

async function runCase(spec: CaseSpec, backend: BackendName, reps: number): Promise<CaseResult> {
  try {
    const c = prepareCase(spec);
    try {
      await (c.warmUp ?? c.run)();
      const seconds: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        await c.run();
        seconds.push((performance.now() - t0) / 1000);
      }
      return { case: spec, backend, seconds, min: Math.min(...seconds), median: median(seconds), flops: c.flops, peakRssMiB: process.resourceUsage().maxRSS / 1024, info: c.info };
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
