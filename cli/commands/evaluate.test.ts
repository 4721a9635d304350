import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT } from '../../tests/fixtures.js';
import { readSafetensors } from '../../runtime/io/safetensors.js';
import { createImage, writeNifti } from '../../runtime/data/nifti/index.js';
import { maskMetrics, maskOf } from '../../runtime/eval/metrics.js';

interface FixturePair {
  index: number;
  pred: string;
  ref: string;
  shape: [number, number, number];
  spacing_mm: [number, number, number];
  per_class: Record<string, { dice: number | null; nsd: number | null; nsd_deepmind: number | null; nsd_deepmind_unit_spacing: number | null }>;
}

type Metrics = { dice: number | null; nsd: number | null; hd95: number | null; asd: number | null; nsd_voxel: number | null };
interface Summary {
  cases: { case: string; metrics: Record<string, Metrics> }[];
  mean: Record<string, Metrics>;
  nan_count: Record<string, Record<string, number>>;
  unpaired_references: string[];
}

function mnxc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'evaluate', ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Fixture arrays are (x, y, z) C order, z fastest; NIfTI stores x fastest. */
function toNiftiOrder(data: Uint8Array, [X, Y, Z]: [number, number, number]): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) out[x + X * (y + Y * z)] = data[(x * Y + y) * Z + z]!;
  return out;
}

function writeLabelMap(path: string, data: Uint8Array, shape: [number, number, number], spacing: number[], offset = 0): void {
  const affine = [
    [spacing[0]!, 0, 0, -10 + offset],
    [0, spacing[1]!, 0, 5],
    [0, 0, spacing[2]!, 2],
    [0, 0, 0, 1],
  ];
  writeNifti(path, createImage({ shape, data: toNiftiOrder(data, shape), affine, dtype: 'uint8' }));
}

/**
 * NIfTI stores voxel sizes as float32 (0.9 becomes 0.89999998), which moves surface Dice by up
 * to ~1e-8 from the fixture's float64 spacing; the arrays themselves are matched to 1e-12 in
 * runtime/eval/metrics.test.ts.
 */
function close(got: number | null, want: number | null, tol = 1e-7): boolean {
  return want === null ? got === null : got !== null && Math.abs(got - want) <= tol;
}

describe('mnxc evaluate on the metric fixtures written as NIfTI', () => {
  let dir = '';
  let pairs: FixturePair[] = [];
  let tensors: ReturnType<typeof readSafetensors>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mnxc-evaluate-'));
    const fdir = join(FIXTURES, 'metrics');
    tensors = readSafetensors(join(fdir, 'metrics.safetensors'));
    pairs = (JSON.parse(readFileSync(join(fdir, 'metrics.json'), 'utf8')) as { pairs: FixturePair[] }).pairs;
    mkdirSync(join(dir, 'pred'));
    mkdirSync(join(dir, 'ref'));
    for (const p of pairs) {
      writeLabelMap(join(dir, 'pred', `case_${p.index}.nii.gz`), tensors.get(p.pred)!.data as Uint8Array, p.shape, p.spacing_mm);
      writeLabelMap(join(dir, 'ref', `case_${p.index}.nii.gz`), tensors.get(p.ref)!.data as Uint8Array, p.shape, p.spacing_mm);
    }
    // A reference without a prediction: noted, not evaluated.
    writeLabelMap(join(dir, 'ref', 'extra.nii.gz'), tensors.get(pairs[0]!.ref)!.data as Uint8Array, pairs[0]!.shape, pairs[0]!.spacing_mm);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reproduces Dice, surface Dice and the voxel NSD of every case and label, with the real spacing', () => {
    const out = join(dir, 'summary.json');
    const r = mnxc('--pred', join(dir, 'pred'), '--ref', join(dir, 'ref'), '-o', out, '-q');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(out, 'utf8')) as Summary;
    expect(s.cases.map((c) => c.case)).toEqual(pairs.map((p) => `case_${p.index}.nii.gz`));
    expect(s.unpaired_references).toEqual(['extra.nii.gz']);
    let worst = 0;
    for (const [i, p] of pairs.entries()) {
      expect(Object.keys(s.cases[i]!.metrics)).toEqual(['1', '2']); // present labels; background excluded
      for (const label of ['1', '2']) {
        const got = s.cases[i]!.metrics[label]!, want = p.per_class[label]!;
        for (const [g, w] of [[got.dice, want.dice], [got.nsd, want.nsd_deepmind], [got.nsd_voxel, want.nsd]] as const) {
          expect(close(g, w), `case ${i} label ${label}: ${g} vs ${w}`).toBe(true);
          if (g !== null && w !== null) worst = Math.max(worst, Math.abs(g - w));
        }
      }
    }
    expect(worst).toBeLessThan(1e-7);
    // Pair 2 has no label 2 in the prediction: Dice 0, NSD 0, the rest null and skipped in the mean.
    expect(s.cases[2]!.metrics['2']).toEqual({ dice: 0, nsd: 0, hd95: null, asd: null, nsd_voxel: null });
    expect(s.nan_count['2']).toEqual({ dice: 0, nsd: 0, hd95: 1, asd: 1, nsd_voxel: 1 });
    const nsdVoxel2 = [0, 1, 3].map((i) => pairs[i]!.per_class['2']!.nsd!);
    expect(s.mean['2']!.nsd_voxel).toBeCloseTo(nsdVoxel2.reduce((a, b) => a + b) / 3, 12);
    const csv = readFileSync(join(dir, 'summary.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('case,class,dice,nsd,hd95,asd,nsd_voxel');
    expect(csv).toHaveLength(1 + 4 * 2 + 2);
    expect(csv).toContain(`case_2.nii.gz,2,0,0,NaN,NaN,NaN`);
  });

  it('reproduces the paper protocol with --unit-spacing, and dataset.json labels select the classes', () => {
    const out = join(dir, 'unit.json');
    const dataset = join(dir, 'dataset.json');
    writeFileSync(dataset, JSON.stringify({ channel_names: { '0': 'CT' }, labels: { background: 0, a: 1, b: 2 }, numTraining: 4, file_ending: '.nii.gz' }));
    const r = mnxc('--pred', join(dir, 'pred'), '--ref', join(dir, 'ref'), '--labels', dataset, '--unit-spacing', '-o', out, '-q');
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(out, 'utf8')) as Summary;
    for (const [i, p] of pairs.entries()) {
      for (const label of ['1', '2']) {
        const got = s.cases[i]!.metrics[label]!.nsd, want = p.per_class[label]!.nsd_deepmind_unit_spacing;
        expect(close(got, want), `case ${i} label ${label}: ${got} vs ${want}`).toBe(true);
      }
    }
  });

  it('evaluates regions from a file on worker threads, the same as in-process', () => {
    const out = join(dir, 'regions.json');
    const regions = join(dir, 'regions.json.in');
    writeFileSync(regions, JSON.stringify({ foreground: [1, 2], second: [2] }));
    const r = mnxc('--pred', join(dir, 'pred'), '--ref', join(dir, 'ref'), '--regions', regions, '--workers', '2', '--tolerance', '2', '-o', out, '-q');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(out, 'utf8')) as Summary;
    for (const [i, p] of pairs.entries()) {
      const pred = tensors.get(p.pred)!.data as Uint8Array, ref = tensors.get(p.ref)!.data as Uint8Array;
      const want = maskMetrics(maskOf(pred, [1, 2]), maskOf(ref, [1, 2]), p.shape, p.spacing_mm.map(Math.fround), 2);
      const got = s.cases[i]!.metrics['foreground']!;
      for (const k of ['dice', 'nsd', 'hd95', 'asd', 'nsd_voxel'] as const) expect(close(got[k], want[k], 1e-12), `case ${i} ${k}`).toBe(true);
    }
    expect(Object.keys(s.mean)).toEqual(['foreground', 'second']);
  });

  it('lists every pair whose geometry differs, and writes nothing', () => {
    const bad = join(dir, 'bad');
    mkdirSync(join(bad, 'pred'), { recursive: true });
    const p0 = pairs[0]!, p1 = pairs[1]!;
    const d0 = tensors.get(p0.pred)!.data as Uint8Array, d1 = tensors.get(p1.pred)!.data as Uint8Array;
    writeLabelMap(join(bad, 'pred', 'case_0.nii.gz'), d0, p0.shape, p0.spacing_mm, 0.5); // shifted origin
    writeLabelMap(join(bad, 'pred', 'case_1.nii.gz'), d0, p0.shape, p0.spacing_mm); // other shape
    writeLabelMap(join(bad, 'pred', 'case_3.nii.gz'), d1, p1.shape, p1.spacing_mm);
    const out = join(bad, 'summary.json');
    const r = mnxc('--pred', join(bad, 'pred'), '--ref', join(dir, 'ref'), '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/3 case\(s\) cannot be evaluated/);
    expect(r.stderr).toMatch(/case_0\.nii\.gz: prediction and reference affines differ \(largest difference 0\.500 > 1e-4\)/);
    expect(r.stderr).toMatch(/case_1\.nii\.gz: prediction shape 20×24×16 differs from reference shape 24×20×12/);
    expect(r.stderr).toMatch(/case_3\.nii\.gz: prediction shape/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(out)).toBe(false);
  });

  it('lists every prediction without a reference', () => {
    const lone = join(dir, 'lone');
    mkdirSync(lone, { recursive: true });
    const p0 = pairs[0]!;
    for (const name of ['zz_1.nii.gz', 'case_0.nii.gz', 'zz_2.nii']) writeLabelMap(join(lone, name), tensors.get(p0.pred)!.data as Uint8Array, p0.shape, p0.spacing_mm);
    const r = mnxc('--pred', lone, '--ref', join(dir, 'ref'), '-o', join(lone, 's.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/2 prediction\(s\) have no reference of the same name in .*: zz_1\.nii\.gz, zz_2\.nii/);
  });

  it('rejects bad command lines with exit code 2', () => {
    expect(mnxc('--pred', dir, '-o', 'x.json').code).toBe(2);
    expect(mnxc('--pred', dir, '--ref', dir, '-o', 'x.json', '--tolerance', 'abc').code).toBe(2);
    expect(mnxc('--pred', dir, '--ref', dir, '-o', 'x.json', '--labels', 'a', '--regions', 'brats').code).toBe(2);
    const r = mnxc('--pred', dir, '--ref', dir, '-o', join(dir, 'x.json'), '--regions', join(dir, 'nope.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.json: cannot read the regions file \(no such file\)/);
  });
});
