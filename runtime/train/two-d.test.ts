import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { useBackend } from '../backend.js';
import { loadDataset, writeTestDataset } from '../data/dataset/index.js';
import { readNifti } from '../data/nifti/index.js';
import { computeFingerprint, parsePlans, planFromFingerprint, savePlans, stringifyPlans } from '../data/plan/index.js';
import { preprocessDataset } from '../data/preprocess/index.js';
import { evaluateFolders } from '../eval/evaluate-folder.js';
import { findInputCases } from '../infer/inputs.js';
import { predictCases } from '../infer/predict.js';
import { RunFolder } from '../../app/run-folder.js';
import { windowStarts } from '../infer/steps.js';
import { BatchMaker } from './batch.js';
import { specHash } from './run-dir.js';
import { sphereCase } from './testing.js';
import { headShapes, train } from './trainer.js';

/**
 * nnU-Net's 2-D configuration end to end: plans with one-slice patches, a 2-D MedNeXt trained on
 * slices (in-plane augmentation), prediction slice by slice with 2-D windows and in-plane
 * mirroring, evaluation.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-2d-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  const backend = await useBackend('auto');
  if (backend === 'wasm') await useBackend('cpu');
});

describe('2-D configuration', () => {
  it('windows of one slice visit every slice once', () => {
    expect(windowStarts(5, 1, 0.5)).toEqual([0, 1, 2, 3, 4]);
  });

  it('plans, trains on slices, predicts slice by slice and evaluates', async () => {
    const datasetDir = join(root, 'Dataset902_Spheres2D');
    const cases = Array.from({ length: 4 }, (_, i) => sphereCase(`case_${i}`, 16, 50 + i));
    writeTestDataset(datasetDir, { channelNames: ['MR'], labels: { background: 0, sphere: 1 }, cases, name: 'Spheres2D' });
    const ds = loadDataset(datasetDir);
    const fp = computeFingerprint({ name: 'Spheres2D', channels: ds.channels, labels: { '0': 'background', '1': 'sphere' }, cases: ds.training });
    const plans = parsePlans(stringifyPlans(planFromFingerprint(fp, { configuration: '2d', patch: [1, 16, 16] })), 'plans.yaml');
    expect(plans.training.configuration).toBe('2d');
    expect(plans.training.loss.batch_dice).toBe(true);
    expect(plans.augmentation.dummy_2d).toBe(true);
    expect(plans.inference.mirror_axes).toEqual([1, 2]);
    // the 2-D batch size rule (capped at 5 % of the dataset's voxels per batch)
    expect(plans.training.batch_size).toBeGreaterThan(2);
    Object.assign(plans.training, { epochs: 1, iterations_per_epoch: 4, val_iterations_per_epoch: 1, batch_size: 4 });
    const pre = join(root, 'pre');
    expect((await preprocessDataset({ sources: ds.training, plans, outDir: pre, workers: 0 })).failed).toEqual([]);

    const ir = compileFile('examples/tiny.mnx', { inputSize: [16, 16], set: ['dim="2d"'] }).ir!;
    expect(ir.spatialDims).toBe(2);
    const heads = headShapes(ir, plans.training.patch_size);
    expect(heads[0]).toEqual([1, 16, 16]);
    // batches are single slices, augmented in plane
    const b = new BatchMaker({ dir: pre, train: ['case_0'], val: ['case_1'], training: plans.training, augmentation: plans.augmentation, headShapes: heads, seed: 1 }).make({ kind: 'train', epoch: 0, index: 0 });
    expect(b.inputShape).toEqual([4, 1, 16, 16, 1]);

    const run = join(root, 'run');
    const result = await train({
      preprocessedDir: pre, plans, plansHash: 'h', ir, specHash: specHash(ir), train: ['case_0', 'case_1', 'case_2'], val: ['case_3'],
      fold: '0', foldDir: join(run, 'fold_0'), resume: false, seed: 2, workers: 0,
    });
    expect(result.outcome).toBe('finished');
    expect(Number.isFinite(result.state.history[0]!.train_loss)).toBe(true);

    savePlans(join(run, 'plans.yaml'), plans);
    writeFileSync(join(run, 'model.ir.json'), JSON.stringify(ir));
    copyFileSync(join(datasetDir, 'dataset.json'), join(run, 'dataset.json'));
    const out = join(root, 'pred');
    mkdirSync(out);
    const [res] = await predictCases({ run: RunFolder.open(run), cases: findInputCases(join(datasetDir, 'imagesTr', 'case_3_0000.nii.gz'), 1), outDir: out, folds: ['0'], checkpoint: 'final' });
    // every slice once, each with the 4 in-plane mirrorings: windows = slices × windows per slice
    expect(res!.passes).toBe(res!.windows * 4);
    expect(readNifti(join(out, 'case_3.nii.gz')).shape.slice(0, 3)).toEqual([16, 16, 16]);
    mkdirSync(join(root, 'ref'));
    copyFileSync(join(datasetDir, 'labelsTr', 'case_3.nii.gz'), join(root, 'ref', 'case_3.nii.gz'));
    const evaluation = await evaluateFolders({ predDir: out, refDir: join(root, 'ref'), classes: [{ name: 'sphere', labels: [1] }], tolerance: 1, unitSpacing: false, workers: 0 });
    const dice = evaluation.mean.sphere!.dice;
    expect(dice >= 0 && dice <= 1).toBe(true);
  }, 120_000);
});
