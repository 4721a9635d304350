import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, writeTestDataset, type TestCaseSpec } from '../dataset/index.js';
import { readNifti, writeNifti } from '../nifti/index.js';
import { computeFingerprint, planFromFingerprint, type Fingerprint, type Plans } from '../plan/index.js';
import { preprocessDataset, type RunSummary } from './run.js';
import { readCase, readCaseHeader, readPatch } from './store.js';
import { undoPreprocessing } from './pipeline.js';
import { toOriginalImage } from './original.js';

/**
 * A small real dataset: two channels (CT, MR), a body inside a zero border (so cropping matters),
 * labels 1 (sphere) and 2 (its core). Cases "aniso_*" have 0.9 × 0.9 × 3 mm voxels and affines
 * rotated about two axes; case "iso" has 1 mm voxels, so nothing is resampled for it.
 */
function rotated(spacing: number[], angle: number, origin: number[]): number[][] {
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  const [c2, s2] = [Math.cos(angle / 2), Math.sin(angle / 2)];
  // R = Rz(angle) · Rx(angle / 2)
  const R = [
    [c, -s * c2, s * s2],
    [s, c * c2, -c * s2],
    [0, s2, c2],
  ];
  return [0, 1, 2].map((r) => [R[r]![0]! * spacing[0]!, R[r]![1]! * spacing[1]!, R[r]![2]! * spacing[2]!, origin[r]!]).concat([[0, 0, 0, 1]]);
}

function makeCase(id: string, shape: [number, number, number], spacing: number[], angle: number, seed: number): TestCaseSpec {
  const [X, Y, Z] = shape;
  const n = X * Y * Z;
  const ct = new Float32Array(n);
  const mr = new Float32Array(n);
  const label = new Uint8Array(n);
  const [cx, cy, cz] = [X / 2 + (seed % 3) - 1, Y / 2, Z / 2];
  const r = Math.min(X * spacing[0]!, Y * spacing[1]!, Z * spacing[2]!) / 4;
  for (let k = 0; k < Z; k++)
    for (let j = 0; j < Y; j++)
      for (let i = 0; i < X; i++) {
        const idx = i + X * (j + Y * k);
        // body: everything except a 3-voxel border in x and y, 1 slice at each z end, and a corner notch
        if (i < 3 || i >= X - 3 || j < 3 || j >= Y - 3 || k < 1 || k >= Z - 1) continue;
        if (i < 6 && j < 6) continue; // a notch open to the border: inside the box, outside the body
        const d = Math.hypot((i - cx) * spacing[0]!, (j - cy) * spacing[1]!, (k - cz) * spacing[2]!);
        label[idx] = d < r / 2 ? 2 : d < r ? 1 : 0;
        ct[idx] = -100 + 20 * Math.sin(i + seed) + (label[idx]! > 0 ? 150 + 40 * label[idx]! : 0);
        mr[idx] = 300 + 30 * Math.cos(j * 0.7 + k) + 100 * label[idx]!;
      }
  return { id, shape, channels: [ct, mr], label, affine: rotated(spacing, angle, [-20 + seed, 10, 5 * seed]), imageDType: 'float32' };
}

const root = mkdtempSync(join(tmpdir(), 'mnxc-pre-'));
const datasetDir = join(root, 'Dataset500_Test');
const outDir = join(root, 'preprocessed');
let fp: Fingerprint;
let plans: Plans;
let first: RunSummary;
const cases = [
  makeCase('aniso_a', [24, 22, 8], [0.9, 0.9, 3], 0.5, 1),
  makeCase('aniso_b', [26, 20, 7], [0.9, 0.9, 3], -0.3, 2),
  makeCase('aniso_c', [22, 24, 9], [0.9, 0.9, 3], 1.1, 3),
  makeCase('broken', [20, 20, 6], [0.9, 0.9, 3], 0.2, 4),
  makeCase('iso', [20, 18, 16], [1, 1, 1], 0.7, 5),
  makeCase('iso_b', [18, 20, 14], [1, 1, 1], -0.9, 6),
];

beforeAll(async () => {
  writeTestDataset(datasetDir, { channelNames: ['CT', 'MR'], labels: { background: 0, organ: 1, core: 2 }, cases });
  const ds = loadDataset(datasetDir);
  fp = computeFingerprint({ name: 'Dataset500_Test', channels: ds.channels, labels: { '0': 'background', '1': 'organ', '2': 'core' }, cases: ds.training });
  plans = planFromFingerprint(fp);
  // break one case after planning: its label file is no longer a NIfTI file
  writeFileSync(join(datasetDir, 'labelsTr', 'broken.nii.gz'), 'not a nifti file');
  first = await preprocessDataset({ sources: ds.training, plans, outDir, workers: 2 });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fingerprint and plans from a generated dataset', () => {
  it('records per-case geometry after cropping, in array order (z, y, x)', () => {
    const a = fp.cases.find((c) => c.id === 'aniso_a')!;
    expect(a.shape).toEqual([8, 22, 24]);
    a.spacing.forEach((s, i) => expect(s).toBeCloseTo([3, 0.9, 0.9][i]!, 5));
    expect(a.crop_box).toEqual([[1, 7], [3, 19], [3, 21]]);
    expect(a.shape_after_cropping).toEqual([6, 16, 18]);
    expect(a.size_reduction).toBeCloseTo((6 * 16 * 18) / (8 * 22 * 24), 12);
    expect(a.classes).toEqual([0, 1, 2]);
  });

  it('samples every 10th foreground voxel per case and pools them per channel', () => {
    const ds = cases.map((c) => Array.from(c.label!).filter((v) => v > 0).length);
    const expected = ds.reduce((sum, n) => sum + Math.ceil(n / 10), 0);
    expect(fp.foreground_intensity[0]!.n).toBe(expected);
    const ct = fp.foreground_intensity[0]!;
    const fgValues = cases.flatMap((c) => Array.from(c.channels[0]!).filter((_, i) => c.label![i]! > 0));
    expect(ct.min).toBeGreaterThanOrEqual(Math.min(...fgValues) - 1e-3);
    expect(ct.max).toBeLessThanOrEqual(Math.max(...fgValues) + 1e-3);
    expect(ct.percentile_00_5).toBeLessThan(ct.median);
    expect(ct.percentile_99_5).toBeGreaterThan(ct.median);
  });

  it('plans MedNeXt defaults and nnU-Net normalisation (CT statistics; z-score with the mask since cropping removed > 25 %)', () => {
    expect(plans.preprocessing.target_spacing).toEqual([1, 1, 1]);
    expect(plans.training.patch_size).toEqual([128, 128, 128]);
    expect(fp.median_size_reduction).toBeLessThan(0.75);
    const [ct, mr] = plans.preprocessing.normalization;
    expect(ct).toMatchObject({ scheme: 'CT', use_nonzero_mask: false, mean: fp.foreground_intensity[0]!.mean, lower: fp.foreground_intensity[0]!.percentile_00_5 });
    expect(mr).toMatchObject({ scheme: 'zscore', use_nonzero_mask: true });
    expect(planFromFingerprint(fp, { targetSpacing: 'median' }).preprocessing.target_spacing).toEqual(fp.median_spacing);
  });
});

describe('preprocessDataset (worker threads)', () => {
  it('preprocesses the good cases and reports the broken one without losing the others', () => {
    expect(first.done.map((r) => r.id).sort()).toEqual(['aniso_a', 'aniso_b', 'aniso_c', 'iso', 'iso_b']);
    expect(first.failed.map((r) => r.id)).toEqual(['broken']);
    expect(first.failed[0]!.error).toMatch(/broken\.nii\.gz/);
    expect(existsSync(join(outDir, 'broken.json'))).toBe(false);
  });

  it('resamples to 1 mm: new shape = round(cropped shape · spacing); the coarse axis is resampled separately', () => {
    const h = readCaseHeader(outDir, 'aniso_a');
    expect(h.properties.shape_after_resampling).toEqual([18, 14, 16]); // [6·3, 16·0.9 = 14.4, 18·0.9 = 16.2]
    expect(h.properties.separate_axis).toBe(0);
    expect(h.data.shape).toEqual([2, 18, 14, 16]);
    const { data, seg } = readCase(outDir, 'aniso_a');
    expect(data.length).toBe(2 * 18 * 14 * 16);
    expect(new Set(seg)).toEqual(new Set([-1, 0, 1, 2]));
    // nearest neighbour along z: every label slice is repeated three times
    const plane = 14 * 16;
    for (let z = 0; z < 18; z += 3)
      for (let t = 1; t < 3; t++) expect(Array.from(seg!.subarray((z + t) * plane, (z + t + 1) * plane))).toEqual(Array.from(seg!.subarray(z * plane, (z + 1) * plane)));
  });

  it('normalises CT with the dataset statistics and MR per image inside the body', () => {
    const { header, data, seg } = readCase(outDir, 'iso');
    const ct = plans.preprocessing.normalization[0]!;
    const src = cases.find((c) => c.id === 'iso')!;
    const [[z0], [y0], [x0]] = header.properties.crop_box;
    const [D0, D1, D2] = header.properties.shape_after_resampling;
    // no resampling for the 1 mm case: voxel (a, b, c) of the crop is source voxel (x0 + c, y0 + b, z0 + a)
    for (const [a, b, c] of [[2, 3, 4], [7, 8, 9], [10, 2, 12]] as const) {
      const v = src.channels[0]![x0 + c + 20 * (y0 + b + 18 * (z0 + a))]!;
      const want = (Math.min(Math.max(v, ct.lower!), ct.upper!) - ct.mean!) / ct.std!;
      expect(data[(a * D1 + b) * D2 + c]).toBeCloseTo(want, 4);
    }
    const n = D0 * D1 * D2;
    const mr = data.subarray(n, 2 * n);
    let sum = 0, sq = 0, count = 0;
    for (let i = 0; i < n; i++) {
      if (seg![i]! < 0) {
        expect(mr[i]).toBe(0);
        continue;
      }
      sum += mr[i]!;
      sq += mr[i]! ** 2;
      count++;
    }
    expect(sum / count).toBeCloseTo(0, 4);
    expect(Math.sqrt(sq / count)).toBeCloseTo(1, 4);
  });

  it('samples foreground locations per class that really hold that class', () => {
    const { header, seg } = readCase(outDir, 'aniso_b');
    const [, D1, D2] = header.properties.shape_after_resampling;
    for (const cls of [1, 2]) {
      const locs = header.properties.class_locations[String(cls)]!;
      const total = Array.from(seg!).filter((v) => v === cls).length;
      expect(locs.length / 3).toBe(Math.min(10000, total));
      for (let i = 0; i < locs.length; i += 3) expect(seg![(locs[i]! * D1 + locs[i + 1]!) * D2 + locs[i + 2]!]).toBe(cls);
    }
  });

  it('reads a patch by byte ranges, padding outside the volume with 0 (image) and −1 (labels)', () => {
    const { header, data, seg } = readCase(outDir, 'aniso_c');
    const [C, D0, D1, D2] = header.data.shape;
    const box: [[number, number], [number, number], [number, number]] = [[-2, 5], [3, 9], [D2 - 4, D2 + 3]];
    const p = readPatch(outDir, header, box);
    expect(p.shape).toEqual([7, 6, 7]);
    for (let c = 0; c < C; c++)
      for (let a = 0; a < 7; a++)
        for (let b = 0; b < 6; b++)
          for (let k = 0; k < 7; k++) {
            const [z, y, x] = [box[0][0] + a, box[1][0] + b, box[2][0] + k];
            const inside = z >= 0 && z < D0 && y >= 0 && y < D1 && x >= 0 && x < D2;
            const got = p.data[((c * 7 + a) * 6 + b) * 7 + k];
            expect(got).toBe(inside ? data[((c * D0 + z) * D1 + y) * D2 + x] : 0);
            if (c === 0) expect(p.seg![(a * 6 + b) * 7 + k]).toBe(inside ? seg![(z * D1 + y) * D2 + x] : -1);
          }
  });

  it('skips finished cases on a re-run and redoes a case whose header is gone', async () => {
    unlinkSync(join(outDir, 'iso_b.json'));
    const ds = loadDataset(datasetDir);
    const again = await preprocessDataset({ sources: ds.training.filter((c) => c.id !== 'broken'), plans, outDir, workers: 0 });
    expect(again.skipped.sort()).toEqual(['aniso_a', 'aniso_b', 'aniso_c', 'iso']);
    expect(again.done.map((r) => r.id)).toEqual(['iso_b']);
  });
});

describe('undoPreprocessing', () => {
  it('gives back the original labels exactly where no resampling was needed, on the original grid', () => {
    const { seg } = readCase(outDir, 'iso');
    const props = readCaseHeader(outDir, 'iso').properties;
    const undone = undoPreprocessing({ labels: seg! }, props);
    const src = cases.find((c) => c.id === 'iso')!;
    expect(undone.shape).toEqual([20, 18, 16]);
    expect(Array.from(undone.labels)).toEqual(Array.from(src.label!));
    const path = join(root, 'iso_pred.nii.gz');
    writeNifti(path, toOriginalImage(undone, props));
    const back = readNifti(path);
    const original = readNifti(join(datasetDir, 'imagesTr', 'iso_0000.nii.gz'));
    expect(back.shape).toEqual(original.shape);
    back.affine.forEach((row, r) => row.forEach((v, c) => expect(v).toBeCloseTo(original.affine[r]![c]!, 5)));
    expect(Array.from(back.data)).toEqual(Array.from(src.label!));
  });

  it('maps probabilities of an anisotropic, rotated case back onto its original grid', () => {
    const { seg } = readCase(outDir, 'aniso_a');
    const props = readCaseHeader(outDir, 'aniso_a').properties;
    const n = seg!.length;
    const probs = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) probs[Math.max(seg![i]!, 0) * n + i] = 1;
    const undone = undoPreprocessing({ probabilities: probs, classes: 3 }, props, { keepProbabilities: true });
    const src = cases.find((c) => c.id === 'aniso_a')!;
    expect(undone.shape).toEqual([24, 22, 8]);
    expect(undone.probabilities!.length).toBe(3 * 24 * 22 * 8);
    let agree = 0;
    let fgBoth = 0, fgA = 0, fgB = 0;
    for (let i = 0; i < src.label!.length; i++) {
      if (undone.labels[i] === src.label![i]) agree++;
      if (src.label![i]! > 0) fgA++;
      if (undone.labels[i]! > 0) fgB++;
      if (src.label![i]! > 0 && undone.labels[i]! > 0) fgBoth++;
    }
    expect(agree / src.label!.length).toBeGreaterThan(0.95);
    expect((2 * fgBoth) / (fgA + fgB)).toBeGreaterThan(0.9);
    const path = join(root, 'aniso_pred.nii.gz');
    writeNifti(path, toOriginalImage(undone, props));
    const back = readNifti(path);
    const original = readNifti(join(datasetDir, 'imagesTr', 'aniso_a_0000.nii.gz'));
    expect(back.shape).toEqual(original.shape);
    back.affine.forEach((row, r) => row.forEach((v, c) => expect(v).toBeCloseTo(original.affine[r]![c]!, 5)));
    expect(readFileSync(path).length).toBeGreaterThan(0);
  });
});
