import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { useBackend } from '../backend.js';
import { writeTestCase, type TestCaseSpec } from '../data/dataset/index.js';
import { readNifti, type NiftiImage } from '../data/nifti/index.js';
import type { Triple } from '../data/plan/plans.js';
import { parseSafetensors } from '../io/safetensors.js';
import { findInputCases } from './inputs.js';
import { keepLargestComponentPerClass } from './lcc.js';
import { predictCases, type CaseResult } from './predict.js';
import { RunFolder } from '../../app/run-folder.js';
import { writeTestRunFolder } from '../../app/testing.js';

/**
 * End to end on a generated test set: two channels, three classes, the tiny MedNeXt with random
 * weights in a run folder of two folds. Case "aniso" has 0.9 × 0.9 × 3 mm voxels, a rotated affine
 * and a zero border (crop, separate-axis resampling, several windows); case "small" is smaller than
 * the 16³ patch (padding) and has 1 mm voxels.
 */
function rotated(spacing: number[], angle: number, origin: number[]): number[][] {
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  const R = [[c, -s, 0], [s, c, 0], [0, 0, 1]];
  return [0, 1, 2].map((r) => [R[r]![0]! * spacing[0]!, R[r]![1]! * spacing[1]!, R[r]![2]! * spacing[2]!, origin[r]!]).concat([[0, 0, 0, 1]]);
}

function makeCase(id: string, shape: Triple, spacing: number[], angle: number, border: number): TestCaseSpec {
  const [X, Y, Z] = shape;
  const n = X * Y * Z;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let k = 0; k < Z; k++)
    for (let j = 0; j < Y; j++)
      for (let i = 0; i < X; i++) {
        if (i < border || i >= X - border || j < border || j >= Y - border) continue;
        const idx = i + X * (j + Y * k);
        const d = Math.hypot(i - X / 2, j - Y / 2, (k - Z / 2) * spacing[2]!);
        a[idx] = 50 + 30 * Math.sin(i * 0.9 + k) + (d < 5 ? 100 : 0);
        b[idx] = 20 + 10 * Math.cos(j * 0.5) + (d < 3 ? 80 : 0);
      }
  return { id, shape, channels: [a, b], label: null, affine: rotated(spacing, angle, [-30, 12, 7]) };
}

const root = mkdtempSync(join(tmpdir(), 'mnxc-predict-'));
const runDir = join(root, 'run');
const imagesDir = join(root, 'imagesTs');
const cases = [makeCase('aniso', [24, 22, 8], [0.9, 0.9, 3], 0.4, 3), makeCase('small', [10, 12, 6], [1, 1, 1], -0.2, 0)];

function mnxc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), 'predict', ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function probabilitiesFile(path: string) {
  return parseSafetensors(gunzipSync(readFileSync(path)), path);
}

async function run(out: string, folds: string[], extra: { tta?: boolean; saveProbabilities?: boolean; checkpoint?: 'final' | 'best' } = {}): Promise<CaseResult[]> {
  const r = RunFolder.open(runDir);
  return predictCases({
    run: r,
    cases: findInputCases(imagesDir, 2),
    outDir: join(root, out),
    folds: r.selectFolds(folds.join(',')),
    checkpoint: extra.checkpoint ?? 'final',
    tta: extra.tta ?? true,
    saveProbabilities: extra.saveProbabilities ?? true,
  });
}

beforeAll(async () => {
  await useBackend('wasm');
  writeTestRunFolder(runDir, {
    spec: join(ROOT, 'examples', 'tiny.mnx'),
    set: ['in_channels=2', 'n_classes=3'],
    channels: ['CT', 'MR'],
    labels: { '0': 'background', '1': 'organ', '2': 'core' },
    patch: [16, 16, 16],
    folds: { '0': 11, '1': 12 },
    checkpoints: ['final'],
  });
  for (const c of cases) writeTestCase(root, c, 'Ts');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('mnxc predict, end to end (tiny MedNeXt, wasm)', () => {
  let results: CaseResult[];
  const outputs = new Map<string, NiftiImage>();
  beforeAll(async () => {
    results = await run('fold0', ['0']);
    for (const r of results) outputs.set(r.id, readNifti(r.output));
  });

  it('writes a uint8 label map on each input’s grid: same shape, affine, qform/sform and voxel size', () => {
    expect(results.map((r) => r.id)).toEqual(['aniso', 'small']);
    for (const c of cases) {
      const input = readNifti(join(imagesDir, `${c.id}_0000.nii.gz`));
      const out = outputs.get(c.id)!;
      expect(out.shape).toEqual(input.shape);
      expect(out.affine).toEqual(input.affine);
      expect(out.spacing).toEqual(input.spacing);
      expect(out.dtype).toBe('uint8');
      expect(out.header.qformCode).toBe(input.header.qformCode);
      expect(out.header.sformCode).toBe(input.header.sformCode);
      expect(out.header.srow).toEqual(input.header.srow);
      expect(out.header.quatern).toEqual(input.header.quatern);
      for (const v of out.data) expect(v === 0 || v === 1 || v === 2).toBe(true);
    }
  });

  it('counts windows and mirrored passes: aniso is cropped, resampled to 18×14×16 and padded to 18×16×16', () => {
    const aniso = results[0]!;
    expect(aniso.windows).toBe(2);
    expect(aniso.passes).toBe(2 * 8);
    expect(results[1]!.windows).toBe(1);
  });

  it('labels the area outside the crop box background and keeps probabilities that agree with the labels', () => {
    const aniso = results[0]!;
    const { tensors, metadata } = probabilitiesFile(aniso.probabilities!);
    const box = JSON.parse(metadata.crop_box!) as [number, number][];
    expect(box).toEqual([[0, 8], [3, 19], [3, 21]]);
    expect(JSON.parse(metadata.original_shape!)).toEqual([8, 22, 24]);
    const p = tensors.get('probabilities')!;
    const cropped = box.map(([a, b]) => b - a) as Triple;
    expect(p.shape).toEqual([3, ...cropped]);
    const probs = p.data as Float32Array;
    const n = cropped[0] * cropped[1] * cropped[2];
    const labels = outputs.get('aniso')!.data;
    let mismatches = 0;
    let sumErr = 0;
    for (let a = 0; a < 8; a++)
      for (let b = 0; b < 22; b++)
        for (let c = 0; c < 24; c++) {
          const label = labels[c + 24 * (b + 22 * a)]!;
          const inBox = b >= 3 && b < 19 && c >= 3 && c < 21;
          if (!inBox) {
            if (label !== 0) mismatches++;
            continue;
          }
          const i = (a * cropped[1] + b - 3) * cropped[2] + c - 3;
          const q = [probs[i]!, probs[n + i]!, probs[2 * n + i]!];
          sumErr = Math.max(sumErr, Math.abs(q[0]! + q[1]! + q[2]! - 1));
          const best = q.indexOf(Math.max(...q));
          if (best !== label) mismatches++;
        }
    expect(mismatches).toBe(0);
    expect(sumErr).toBeLessThan(1e-5);
  });

  it('averages folds: the ensemble’s probabilities are the mean of each fold’s', async () => {
    const one = await run('fold1', ['1']);
    const both = await run('folds01', ['0', '1']);
    for (let c = 0; c < cases.length; c++) {
      const p0 = probabilitiesFile(results[c]!.probabilities!).tensors.get('probabilities')!.data as Float32Array;
      const p1 = probabilitiesFile(one[c]!.probabilities!).tensors.get('probabilities')!.data as Float32Array;
      const pb = probabilitiesFile(both[c]!.probabilities!).tensors.get('probabilities')!.data as Float32Array;
      let err = 0;
      let foldsDiffer = 0;
      for (let i = 0; i < pb.length; i++) {
        err = Math.max(err, Math.abs(pb[i]! - (p0[i]! + p1[i]!) / 2));
        foldsDiffer = Math.max(foldsDiffer, Math.abs(p0[i]! - p1[i]!));
      }
      expect(err, cases[c]!.id).toBeLessThan(1e-5);
      expect(foldsDiffer, `${cases[c]!.id}: the two folds' weights must differ for this test to mean anything`).toBeGreaterThan(1e-3);
    }
  });
});

describe('mnxc predict, command line', () => {
  it('predicts with --postprocess lcc: the library labels with each class reduced to its largest component', async () => {
    const reference = await run('ref-notta', ['0'], { tta: false, saveProbabilities: false });
    const out = join(root, 'cli');
    const r = mnxc('-i', imagesDir, '-o', out, '-m', runDir, '--folds', '0', '--no-tta', '--postprocess', 'lcc', '--backend', 'wasm');
    expect(r.stderr).toContain('backend: wasm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 case\(s\) predicted/);
    for (const ref of reference) {
      const expected = Uint8Array.from(readNifti(ref.output).data);
      const [X, Y, Z] = readNifti(ref.output).shape as Triple;
      keepLargestComponentPerClass(expected, [Z, Y, X], [1, 2]);
      expect(Array.from(readNifti(join(out, `${ref.id}.nii.gz`)).data)).toEqual(Array.from(expected));
    }
    expect(existsSync(join(out, 'aniso.probabilities.safetensors.gz'))).toBe(false);
  });

  it('reports a case whose file is broken and still predicts the others (exit 1)', () => {
    const images = join(root, 'withbroken');
    mkdirSync(images);
    for (const f of readdirSync(imagesDir)) copyFileSync(join(imagesDir, f), join(images, f));
    writeFileSync(join(images, 'broken_0000.nii.gz'), 'not a NIfTI file');
    writeFileSync(join(images, 'broken_0001.nii.gz'), 'not a NIfTI file');
    const out = join(root, 'partial');
    const r = mnxc('-i', images, '-o', out, '-m', runDir, '--folds', '0', '--no-tta', '--backend', 'wasm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/1 of 3 case\(s\) failed \(the other 2 were written\):\n\s+broken: .*broken_0000\.nii\.gz/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(out).sort()).toEqual(['aniso.nii.gz', 'small.nii.gz']);
  });

  it('fails clearly, writing nothing, on a missing checkpoint, a missing run folder or a channel mismatch', () => {
    const out = join(root, 'bad');
    let r = mnxc('-i', imagesDir, '-o', out, '-m', runDir, '--checkpoint', 'best', '--backend', 'wasm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no complete 'best' checkpoint in fold 0 \(complete checkpoints: final; choose one with --checkpoint\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    r = mnxc('-i', imagesDir, '-o', out, '-m', join(root, 'nope'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope: not a run folder/);
    r = mnxc('-i', join(imagesDir, 'small_0000.nii.gz'), '-o', out, '-m', runDir, '--folds', '3');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/fold_3: no such fold folder \(present: 0, 1\)/);
    r = mnxc('-i', join(imagesDir, 'small_0000.nii.gz'), '-o', out, '-m', runDir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/single file gives one channel, but the model takes 2/);
    r = mnxc('-i', imagesDir, '-m', runDir);
    expect(r.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
