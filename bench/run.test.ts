/**
 * Keeps the benchmark harness from rotting: the whole path (planning, child processes, the
 * table, --json's report, --compare) on examples/tiny.mnx at toy sizes. No timing is asserted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { summarize } from '../compiler/emit/summary.js';
import { OP_CASES } from './cases.js';
import { asReport, renderComparison, renderTable } from './report.js';
import { main, planJobs, runBench } from './run.js';

describe('bench harness', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnxc-bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('plans whole-model rows per backend, and only op rows on cpu unless asked', () => {
    const jobs = planJobs({ backends: ['wasm', 'cpu'] });
    const kinds = (b: string) => jobs.filter((j) => j.backend === b).flatMap((j) => j.cases.map((c) => c.kind));
    // MedNeXt S and B, then nnU-Net's plain U-Net and ResEnc M.
    expect(kinds('wasm')).toEqual(['forward', 'train', 'forward', 'train', 'forward', 'train', 'forward', 'train', 'sliding', ...OP_CASES]);
    expect(jobs.filter((j) => j.backend === 'wasm').map((j) => `${j.cases[0]!.spec ?? ''}${j.cases[0]!.variant ? ' ' + j.cases[0]!.variant : ''}`).slice(4, 8)).toEqual(['examples/nnunet.mnx', 'examples/nnunet.mnx', 'examples/resenc.mnx M', 'examples/resenc.mnx M']);
    expect(kinds('cpu')).toEqual([...OP_CASES]);
    expect(planJobs({ backends: ['cpu'], cpuModels: true, only: ['forward'] }).map((j) => j.cases[0]!.size)).toEqual([64, 64, 64, 64]);
    expect(planJobs({ backends: ['cpu'], full: true, cpuModels: true, only: ['train'] }).map((j) => j.cases[0]!.size)).toEqual([128, 128, 128, 128]);
    expect(jobs.every((j) => j.cases.length === 1)).toBe(true);
  });

  it('runs every case in a child process and reports times, FLOPs and memory', async () => {
    const report = await runBench({ smoke: true, backends: ['cpu'], torch: false, log: () => {} });
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
  });
});
