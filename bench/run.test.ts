/**
 * Keeps the benchmark harness from rotting: the whole path (planning, child processes, the
 * table, --json's report, --compare) on examples/tiny.mnx at toy sizes. No timing is asserted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { summarize } from '../compiler/emit/summary.js';
import { caseTotal } from './case.js';
import { OP_CASES } from './cases.js';
import { asReport, renderComparison, renderScaling, renderTable, type Row } from './report.js';
import { main, planJobs, runBench, scalingCase, SCALING_SIZES, threadEnv } from './run.js';

describe('bench harness', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnxc-bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('plans whole-model rows per backend, and only op rows on cpu unless asked', () => {
    const jobs = planJobs({ backends: ['wasm', 'cpu'] }); // the case row runs on tensorflow and native only
    const kinds = (b: string) => jobs.filter((j) => j.backend === b).flatMap((j) => j.cases.map((c) => c.kind));
    // MedNeXt S and B, then nnU-Net's plain U-Net and ResEnc M.
    expect(kinds('wasm')).toEqual(['forward', 'train', 'forward', 'train', 'forward', 'train', 'forward', 'train', 'sliding', ...OP_CASES]);
    expect(jobs.filter((j) => j.backend === 'wasm').map((j) => `${j.cases[0]!.spec ?? ''}${j.cases[0]!.variant ? ' ' + j.cases[0]!.variant : ''}`).slice(4, 8)).toEqual(['examples/nnunet.mnx', 'examples/nnunet.mnx', 'examples/resenc.mnx M', 'examples/resenc.mnx M']);
    expect(kinds('cpu')).toEqual([...OP_CASES]);
    expect(planJobs({ backends: ['cpu'], cpuModels: true, only: ['forward'] }).map((j) => j.cases[0]!.size)).toEqual([64, 64, 64, 64]);
    expect(planJobs({ backends: ['cpu'], full: true, cpuModels: true, only: ['train'] }).map((j) => j.cases[0]!.size)).toEqual([128, 128, 128, 128]);
    expect(planJobs({ backends: ['native'], mednextOnly: true, only: ['forward', 'train'] }).map((j) => j.cases[0]!.spec)).toEqual(Array(4).fill('examples/mednext.mnx'));
    expect(jobs.every((j) => j.cases.length === 1)).toBe(true);
  });

  it('plans the case, scaling and threads rows on tensorflow and native only', () => {
    const jobs = planJobs({ only: ['case', 'scaling', 'threads'] });
    expect([...new Set(jobs.map((j) => j.backend))]).toEqual(['tensorflow', 'native']);
    const tf = jobs.filter((j) => j.backend === 'tensorflow').map((j) => j.cases[0]!);
    expect(tf.filter((c) => c.kind === 'case').map((c) => c.mode)).toEqual(['parts']);
    expect(tf.filter((c) => c.group === 'scaling').map((c) => `${c.kind} ${c.size}`)).toEqual(SCALING_SIZES.flatMap((s) => [`forward ${s}`, `train ${s}`]));
    expect(tf.filter((c) => c.group === 'threads').map((c) => `${c.kind} ${c.threads}`)).toEqual(['forward 1', 'train 1', 'forward 2', 'train 2']);
    expect(planJobs({ only: ['case'], caseFull: true, backends: ['native'] }).map((j) => j.cases[0]!.mode)).toEqual(['parts', 'full']);
    expect(planJobs({ only: ['case', 'scaling', 'baselines'], backends: ['wasm', 'cpu'], cpuModels: true })).toEqual([]);
    expect(planJobs({ only: ['baselines'] }).map((j) => j.backend)).toEqual([...Array(6).fill('tensorflow'), ...Array(6).fill('native')]);
    // the default run has the case row, not the scaling and threads groups
    expect(planJobs({ backends: ['native'] }).filter((j) => j.cases[0]!.kind === 'case' || j.cases[0]!.group)).toHaveLength(1);
    expect(threadEnv(1)).toEqual({ MNXC_NATIVE_THREADS: '1', TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1', OMP_NUM_THREADS: '1' });
    expect(threadEnv(undefined)).toEqual({});
  });

  it('measures the case row in parts and in full, computes its totals from the parts, and reports the threads rows', async () => {
    const report = await runBench({ smoke: true, backends: ['tensorflow'], only: ['case', 'threads'], caseFull: true, torch: false, log: () => {} });
    for (const r of report.rows) expect(r.error, r.label).toBeUndefined();
    const parts = report.rows.find((r) => r.case!.kind === 'case' && r.case!.mode === 'parts')!;
    const p = parts.parts!;
    // 24×24×10 at 1.25×1.25×3 mm → 24×24×24 at 1.25 mm; patch 16³, step 0.5: 2 windows per axis
    expect(p.shape).toEqual([24, 24, 24]);
    expect(p.windows).toBe(8);
    for (const k of ['read_s', 'preprocess_s', 'load_weights_s', 'window_s', 'window_mirrored_s', 'accumulate_s', 'result_s', 'export_s'] as const) expect(p[k], k).toBeGreaterThan(0);
    expect(parts.totals!.map((t) => `${t.folds} ${t.mirror}`)).toEqual(['1 false', '1 true', '5 false', '5 true']);
    for (const t of parts.totals!) expect(t.seconds).toBeCloseTo(caseTotal(p, t.folds, t.mirror), 9);
    expect(parts.totals![2]!.seconds).toBeCloseTo(p.read_s + p.preprocess_s + 5 * (p.load_weights_s + 8 * (p.window_s + p.accumulate_s)) + p.result_s + p.export_s, 9);
    const full = report.rows.find((r) => r.case!.kind === 'case' && r.case!.mode === 'full')!;
    expect(full.min).toBeGreaterThan(0);
    expect(full.info).toMatchObject({ windows: 8 });
    const table = renderTable(report);
    expect(table).toContain('| **1 fold, no mirroring: computed from measured parts** |');
    expect(table).toContain('| **1 fold, no mirroring: measured (the whole case, once)** |');
    expect(table).toContain('totals with and without mirroring are COMPUTED from those measured parts');
    // The threads rows report the cores kept busy. Whether one thread holds to about one core is not
    // checked here: at smoke sizes V8's and TensorFlow's own background threads dominate a timed run of
    // milliseconds (1.95 cores busy on a quiet machine), while at the bench's 64³ the 1-thread rows keep
    // 1.02–1.04 cores busy (npm run bench -- --only threads).
    const one = report.rows.find((r) => r.case!.group === 'threads' && r.case!.threads === 1)!;
    expect(one.cpuSeconds!).toBeGreaterThan(0);
    expect(table).toMatch(/\| forward \| tensorflow \| [\d.]+ (ms|s) \| [\d.]+ (ms|s) \| [\d.]+× \| \d+ % \|/);
  }, 120_000);

  it('renders the scaling table against voxels', () => {
    const rows: Row[] = SCALING_SIZES.slice(0, 2).flatMap((size, i) => [
      { key: `f${size}`, label: '', backend: 'tensorflow', case: scalingCase('forward', size), min: 0.1 * 8 ** i, peakRssMiB: 100 },
      { key: `t${size}`, label: '', backend: 'tensorflow', case: scalingCase('train', size), min: 0.5 * 8 ** i, peakRssMiB: 200 },
      { key: `p${size}`, label: '', backend: 'torch 2.13.0+cpu, glibc tuned', case: scalingCase('forward', size), error: 'no torch' },
    ]);
    const table = renderScaling(rows);
    expect(table).toContain('| 32³ | 0.03 M (×1) | 0.10 s | n/a: no torch | 0.50 s |  | 200 |  |');
    expect(table).toContain('| 64³ | 0.26 M (×8) | 0.80 s (×8.0) | n/a: no torch | 4.00 s (×8.0) |  | 200 |  |');
  });

  it('runs every case in a child process and reports times, FLOPs and memory', async () => {
    const saved = join(dir, 'saved.json');
    const report = await runBench({ smoke: true, backends: ['cpu'], torch: false, log: () => {}, savePath: saved });
    // --save: the final report, as --json writes it; --render prints its tables
    const fromFile = asReport(JSON.parse(readFileSync(saved, 'utf8')), saved);
    expect(fromFile.rows.map((r) => r.key)).toEqual(report.rows.map((r) => r.key));
    expect(fromFile.notes.some((n) => n.startsWith('PARTIAL'))).toBe(false);
    expect(await main(['--render', saved])).toBe(0);
    expect(report.rows.map((r) => r.case!.kind).sort()).toEqual(['forward', 'sliding', 'train', ...OP_CASES].sort());
    for (const r of report.rows) {
      expect(r.error, r.label).toBeUndefined();
      expect(r.seconds).toHaveLength(1);
      expect(r.min).toBeGreaterThan(0);
      expect(r.peakRssMiB).toBeGreaterThan(10);
      expect(r.sharePeak).toBeGreaterThan(0);
    }
    const ir = compileFile('examples/tiny.mnx', { set: ['n_classes=3'], inputSize: [16, 16, 16] }).ir!;
    const flops = summarize(ir).flops;
    const row = (kind: string) => report.rows.find((r) => r.case!.kind === kind)!;
    expect(row('forward').flops).toBe(flops);
    expect(row('train').flops).toBe(3 * flops);
    // 24×24×20 with patch 16³ and step 0.5: 2 windows per axis.
    expect(row('sliding').info).toEqual({ windows: 8 });
    expect(row('sliding').flops).toBe(8 * flops);
    expect(row('pointwise').flops).toBe(2 * 8 ** 3 * 4 * 8 + 8 ** 3 * 8);

    const table = renderTable(report);
    expect(table).toContain('| tiny forward 16³ | cpu |');
    expect(table).toContain('peak (float32 matMul, same process): cpu ');
    const again = asReport(JSON.parse(JSON.stringify(report)), 'report');
    const comparison = renderComparison(report, again);
    expect(comparison.split('\n').filter((l) => l.endsWith(' 1.00× |'))).toHaveLength(report.rows.length);
  }, 60_000);

  it('refuses a --compare file that is not a report, and bad flags, with exit 2', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"rows": 3}');
    expect(await main(['--compare', bad])).toBe(2);
    expect(await main(['--compare', join(dir, 'missing.json')])).toBe(2);
    expect(await main(['--backends', 'gpu'])).toBe(2);
    expect(await main(['--reps', '0'])).toBe(2);
    expect(await main(['--frobnicate'])).toBe(2);
    expect(await main(['--only', 'case,bogus'])).toBe(2);
    expect(await main(['--render', bad])).toBe(2);
  });
});
