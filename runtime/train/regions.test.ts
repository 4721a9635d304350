import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { useBackend } from '../backend.js';
import { brainTumourCase, writeBrainTumourDataset } from '../data/dataset/brain-tumour.js';
import { loadDataset, regionsOf } from '../data/dataset/index.js';
import { computeFingerprint, parsePlans, planFromFingerprint, savePlans, stringifyPlans, type Plans } from '../data/plan/index.js';
import { preprocessDataset } from '../data/preprocess/index.js';
import { readNifti } from '../data/nifti/index.js';
import { classesFromDatasetJson } from '../eval/classes.js';
import { evaluateFolders } from '../eval/evaluate-folder.js';
import { exportProbabilities } from '../infer/export.js';
import { findInputCases } from '../infer/inputs.js';
import { predictCases } from '../infer/predict.js';
import { RunFolder } from '../../app/run-folder.js';
import { diceBceLoss } from './loss.js';
import { specHash } from './run-dir.js';
import { train } from './trainer.js';

/**
 * Region-based training on the 4-channel brain-tumour phantom, end to end with the real pipeline:
 * dataset.json regions → plans → preprocessing (per-channel z-score) → training (sigmoid, Dice +
 * BCE) → prediction (thresholds, regions_class_order) → evaluation per region (WT, TC, ET).
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-regions-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  const backend = await useBackend('auto');
  if (backend === 'wasm') await useBackend('cpu');
});

describe('region-based training (BraTS-style regions, nnU-Net v2 dataset.json)', () => {
  it('the loss is Dice + BCE on sigmoid regions (checked against a direct computation)', () => {
    // one sample, four voxels, two regions {1, 2} and {2}; voxel 3 is ignored (−1)
    const logits = [[0.5, -1], [2, 1], [-0.3, 0.2], [9, -9]];
    const target = [0, 2, 1, -1];
    const regions = [[1, 2], [2]];
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    let bce = 0, count = 0;
    const tp = [0, 0], ps = [0, 0], ys = [0, 0];
    logits.forEach((row, v) => {
      if (target[v]! < 0) return;
      row.forEach((x, r) => {
        const y = regions[r]!.includes(target[v]!) ? 1 : 0;
        bce += -(y * Math.log(sig(x)) + (1 - y) * Math.log(1 - sig(x)));
        count++;
        tp[r]! += sig(x) * y;
        ps[r]! += sig(x);
        ys[r]! += y;
      });
    });
    const dice = tp.map((t, r) => (2 * t) / (2 * t + (ps[r]! - t) + (ys[r]! - t) + 1e-8));
    const expected = bce / count - (dice[0]! + dice[1]!) / 2;
    const cfg = { name: 'dice_bce' as const, batch_dice: false, smooth: 0, do_background: true, weight_ce: 1, weight_dice: 1 };
    const got = diceBceLoss(tf.tensor([logits], [1, 4, 2]), tf.tensor([target], [1, 4], 'int32'), regions, cfg).arraySync() as number;
    expect(got).toBeCloseTo(expected, 5);
  });

  it('export: region probabilities above 0.5 become labels by regions_class_order (later wins)', () => {
    const props = {
      shape_after_resampling: [1, 1, 4], shape_after_cropping: [1, 1, 4], separate_axis: null,
      original: { shape: [1, 1, 4] }, crop_box: [[0, 1], [0, 1], [0, 4]],
    } as unknown as Parameters<typeof exportProbabilities>[2];
    // WT, TC, ET per voxel: none; WT; WT+TC; WT+TC+ET
    const p = Float32Array.from([0.1, 0.9, 0.8, 0.7, 0.2, 0.3, 0.6, 0.9, 0.0, 0.4, 0.2, 0.51]);
    expect(Array.from(exportProbabilities(p, 3, props, { regionClassOrder: [1, 2, 3] }).labels)).toEqual([0, 1, 2, 3]);
  });

  it('the phantom trains with regions, predicts and evaluates WT / TC / ET', async () => {
    const data = join(root, 'data');
    const size = { shape: [24, 24, 20] as [number, number, number] };
    const datasetDir = writeBrainTumourDataset(data, { cases: 4, testCases: 1, seed: 1, ...size });
    const ds = loadDataset(datasetDir);
    expect(ds.channels).toEqual(['T1', 'T1ce', 'T2', 'FLAIR']);
    const fp = computeFingerprint({ name: 'BrainTumour', channels: ds.channels, labels: { '0': 'background', '1': 'label_1', '2': 'label_2', '3': 'label_3' }, cases: ds.training });
    const planned = planFromFingerprint(fp, { patch: [16, 16, 16], batchSize: 2, regions: regionsOf(ds.json) });
    const plans: Plans = parsePlans(stringifyPlans(planned), 'plans.yaml');
    expect(plans.dataset.regions!.map((r) => r.labels)).toEqual([[1, 2, 3], [2, 3], [3]]);
    expect(plans.dataset.regions_class_order).toEqual([1, 2, 3]);
    expect(plans.training.loss).toMatchObject({ name: 'dice_bce', do_background: true, smooth: 0, batch_dice: false });
    // per-channel z-score for every MRI sequence
    expect(plans.preprocessing.normalization.map((n) => n.scheme)).toEqual(['zscore', 'zscore', 'zscore', 'zscore']);
    Object.assign(plans.training, { epochs: 2, iterations_per_epoch: 6, val_iterations_per_epoch: 2 });
    const pre = join(root, 'pre');
    const summary = await preprocessDataset({ sources: ds.training, plans, outDir: pre, workers: 0 });
    expect(summary.failed).toEqual([]);

    const ir = compileFile('examples/tiny.mnx', { inputSize: [16, 16, 16], set: ['in_channels=4', 'n_classes=3'] }).ir!;
    const run = join(root, 'run');
    const result = await train({
      preprocessedDir: pre, plans, plansHash: 'h', ir, specHash: specHash(ir), train: ds.training.slice(0, 3).map((c) => c.id),
      val: [ds.training[3]!.id], fold: '0', foldDir: join(run, 'fold_0'), resume: false, seed: 3, workers: 0,
    });
    expect(result.outcome).toBe('finished');
    const last = result.state.history.at(-1)!;
    expect(Number.isFinite(last.train_loss)).toBe(true);
    expect(last.pseudo_dice_per_class).toHaveLength(3); // one pseudo Dice per region

    // a run folder as mnxc train writes it, then predict and evaluate per region
    savePlans(join(run, 'plans.yaml'), plans);
    writeFileSync(join(run, 'model.ir.json'), JSON.stringify(ir));
    copyFileSync(join(datasetDir, 'dataset.json'), join(run, 'dataset.json'));
    const folder = RunFolder.open(run);
    expect(folder.classes).toBe(3);
    const out = join(root, 'pred');
    mkdirSync(out);
    await predictCases({ run: folder, cases: findInputCases(join(datasetDir, 'imagesTs'), 4), outDir: out, folds: ['0'], checkpoint: 'final', tta: false });
    const predicted = readNifti(join(out, 'brain_004.nii.gz'));
    for (const v of predicted.data as Uint8Array) expect([0, 1, 2, 3]).toContain(v);
    const evaluation = await evaluateFolders({
      predDir: out, refDir: join(datasetDir, 'labelsTs'), classes: classesFromDatasetJson(join(datasetDir, 'dataset.json')), tolerance: 1, unitSpacing: false, workers: 0,
    });
    expect(Object.keys(evaluation.mean)).toEqual(['whole tumor', 'tumor core', 'enhancing tumor']);
    // the generator is deterministic
    expect(brainTumourCase('x', 5, size).label).toEqual(brainTumourCase('x', 5, size).label);
  }, 120_000);
});
