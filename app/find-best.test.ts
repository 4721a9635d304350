import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mnxcInProcess as mnxc } from '../tests/cli.js';
import { useBackend } from '../runtime/backend.js';
import { readNifti } from '../runtime/data/nifti/index.js';
import { writeTestRunFolder } from './testing.js';
import { validateFold } from './validate.js';
import { makePreprocessedSpheres } from '../runtime/train/testing.js';
import { findBestConfiguration } from './find-best.js';

/**
 * Two small runs (the tiny MedNeXt, two weight seeds) validated on the same cases of a real
 * preprocessed dataset, then compared and ensembled as nnU-Net's find_best_configuration.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-best-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let runs: string[];

beforeAll(async () => {
  await useBackend('auto');
  const { dir, ids } = await makePreprocessedSpheres(root, 3, 20);
  runs = [];
  for (const [name, seed] of [['a', 1], ['b', 2]] as const) {
    const run = join(root, name);
    writeTestRunFolder(run, { spec: 'examples/tiny.mnx', channels: ['MR'], labels: { '0': 'background', '1': 'sphere' }, patch: [16, 16, 16], folds: { '0': seed } });
    const v = await validateFold({ runDir: run, fold: '0', preprocessedDir: dir, valIds: ids.slice(0, 2), tta: false });
    expect(Object.keys(v.summary.mean)).toEqual(['1']);
    expect(v.postprocessing?.folds).toEqual(['0']);
    runs.push(run);
  }
}, 120_000);

describe('find-best-configuration and ensemble', () => {
  it('scores each run and their ensemble on the validation cases and writes the instructions', () => {
    const out = join(root, 'best');
    const r = findBestConfiguration(runs, out);
    expect(r.configurations.map((c) => c.name)).toEqual(['a', 'b', 'ensemble_a__b']);
    for (const c of r.configurations) expect(c.cases).toBe(2);
    const best = r.configurations.reduce((x, y) => (y.mean_dice > x.mean_dice ? y : x));
    expect(r.best).toBe(best.name);
    expect(readFileSync(join(out, 'inference_instructions.txt'), 'utf8')).toMatch(/^best: /);
    expect(existsSync(join(out, 'ensembles', 'ensemble_a__b', 'case_000.nii.gz'))).toBe(true);
  });

  it('mnxc ensemble averages saved probabilities into label maps on the input grid', async () => {
    const folders = runs.map((r) => join(r, 'fold_0', 'validation_raw'));
    const res = await mnxc('ensemble', ...folders, '-o', join(root, 'ens'), '-q');
    expect(res.code, res.err).toBe(0);
    expect(res.out).toMatch(/ensembled 2 case\(s\) of 2 folders/);
    const a = readNifti(join(folders[0]!, 'case_000.nii.gz'));
    const e = readNifti(join(root, 'ens', 'case_000.nii.gz'));
    expect(e.shape).toEqual(a.shape);
    expect(e.affine).toEqual(a.affine);
    expect((await mnxc('ensemble', folders[0]!, '-o', join(root, 'x'))).code).toBe(2);
  });
});
