import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultPlans, loadPlans, MEDNEXT_DS_WEIGHTS, parsePlans, savePlans, type Plans } from './plans.js';
import { hasLowResStage, medianTargetSpacing, schemeFor } from './planner.js';

const dir = mkdtempSync(join(tmpdir(), 'mnxc-plans-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sample(): Plans {
  return defaultPlans({
    dataset: { name: 'Task500_Test', channels: ['CT'], labels: { '0': 'background', '1': 'organ' }, num_training: 4 },
    target_spacing: [1, 1, 1],
    normalization: [{ channel: 0, name: 'CT', scheme: 'CT', use_nonzero_mask: false, mean: 50, std: 20, lower: -100, upper: 300 }],
    median_shape: [200, 180, 180],
  });
}

describe('plans defaults (MedNeXt / nnU-Net v1)', () => {
  it('fill every training, augmentation, inference and split setting', () => {
    const p = sample();
    expect(p.training).toMatchObject({ epochs: 1000, iterations_per_epoch: 250, val_iterations_per_epoch: 50, batch_size: 2, patch_size: [128, 128, 128], grad_clip_norm: 12, oversample_foreground: 0.33 });
    expect(p.training.optimizer).toMatchObject({ name: 'adamw', lr: 1e-3, weight_decay: 3e-5, eps: 1e-4 });
    expect(p.training.lr_schedule).toEqual({ name: 'poly', exponent: 0.9 });
    expect(p.training.loss).toMatchObject({ name: 'dice_ce', smooth: 1e-5, do_background: false });
    expect(p.training.deep_supervision.weights.map((w) => Number(w.toFixed(3)))).toEqual([0.516, 0.258, 0.129, 0.065, 0.032]);
    expect(MEDNEXT_DS_WEIGHTS.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    expect(p.augmentation.rotation).toEqual({ p: 0.2, max_degrees: [30, 30, 30] });
    expect(p.augmentation.scaling).toEqual({ p: 0.2, range: [0.7, 1.4] });
    expect(p.augmentation.gaussian_noise).toEqual({ p: 0.1, variance: [0, 0.1] });
    expect(p.augmentation.gaussian_blur).toEqual({ p: 0.2, p_per_channel: 0.5, sigma: [0.5, 1] });
    expect(p.augmentation.low_resolution).toEqual({ p: 0.25, p_per_channel: 0.5, zoom: [0.5, 1] });
    expect(p.augmentation.gamma).toMatchObject({ p: 0.3, range: [0.7, 1.5] });
    expect(p.augmentation.gamma_inverted).toMatchObject({ p: 0.1, range: [0.7, 1.5] });
    expect(p.augmentation.mirror.axes).toEqual([0, 1, 2]);
    expect(p.inference).toEqual({ step_size: 0.5, gaussian_sigma_scale: 0.125, tta: true, mirror_axes: [0, 1, 2] });
    expect(p.splits).toEqual({ n_folds: 5, seed: 12345, file: 'splits_final.json' });
    expect(p.preprocessing.resampling).toEqual({ image: { order: 3, order_z: 0 }, label: { order: 1, order_z: 0 } });
  });
});

describe('plans YAML', () => {
  it('round-trips through savePlans / loadPlans', () => {
    const path = join(dir, 'plans.yaml');
    const p = sample();
    p.model = { spec: 'examples/mednext.mnx', variant: 'S', set: { kernel_size: 5, grn: true } };
    savePlans(path, p);
    expect(readFileSync(path, 'utf8')).toContain('target_spacing: [ 1, 1, 1 ]');
    expect(loadPlans(path)).toEqual(p);
  });

  it('fills in everything a minimal file leaves out', () => {
    const text = [
      'version: 1',
      'dataset: {name: T, channels: [T1], labels: {"0": background, "1": lesion}, num_training: 3}',
      'preprocessing:',
      '  target_spacing: [1, 1, 1]',
      '  median_shape: [100, 100, 100]',
      '  normalization: [{channel: 0, name: T1, scheme: zscore}]',
    ].join('\n');
    const p = parsePlans(text, 'mini.yaml');
    expect(p.training.batch_size).toBe(2);
    expect(p.preprocessing.normalization[0]!.use_nonzero_mask).toBe(false);
    expect(p.inference.step_size).toBe(0.5);
  });

  it('names the file, line and field of every problem', () => {
    const text = readFileSync(join(dir, 'plans.yaml'), 'utf8')
      .replace('batch_size: 2', 'batch_size: 0')
      .replace('step_size: 0.5', 'step_sise: 0.5')
      .replace('scheme: CT', 'scheme: HU');
    let message = '';
    try {
      parsePlans(text, 'plans.yaml');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^plans\.yaml:\d+: training\.batch_size: must be >= 1$/m);
    expect(message).toMatch(/^plans\.yaml:\d+: inference\.step_sise: unknown field$/m);
    expect(message).toMatch(/preprocessing\.normalization\[0\]\.scheme: must be one of "CT", "zscore", "noNorm"/);
    const line = Number(message.match(/plans\.yaml:(\d+): training\.batch_size/)![1]);
    expect(text.split('\n')[line - 1]).toContain('batch_size: 0');
  });

  it('requires the foreground statistics for CT and one normalisation entry per channel', () => {
    const base = 'version: 1\ndataset: {name: T, channels: [CT], labels: {"0": bg, "1": a}, num_training: 3}\npreprocessing:\n  target_spacing: [1, 1, 1]\n  median_shape: [9, 9, 9]\n';
    expect(() => parsePlans(base + '  normalization: [{channel: 0, name: CT, scheme: CT}]\n', 'p.yaml')).toThrow(/preprocessing\.normalization\[0\]\.mean: is required/);
    expect(() => parsePlans(base + '  normalization: [{channel: 1, name: CT, scheme: noNorm}]\n', 'p.yaml')).toThrow(/one entry per channel/);
    expect(() => parsePlans('version: 1\n  bad: [', 'p.yaml')).toThrow(/p\.yaml:\d+: not valid YAML/);
  });

  it('loadPlans reports a missing file by name', () => {
    expect(() => loadPlans(join(dir, 'nope.yaml'))).toThrow(/nope\.yaml: cannot read the plans: ENOENT/);
  });
});

describe('planning rules', () => {
  it('maps modalities to normalisation schemes', () => {
    expect(schemeFor('CT')).toBe('CT');
    expect(schemeFor('noNorm')).toBe('noNorm');
    expect(schemeFor('T2')).toBe('zscore');
  });

  it('median target spacing, with the 10th percentile for a very coarse axis with few voxels', () => {
    const spacings: [number, number, number][] = [[5, 1, 1], [6, 1, 1], [10, 1.2, 1.2], [4, 0.8, 0.8], [8, 1, 1]];
    const sizes: [number, number, number][] = spacings.map(() => [20, 256, 256]);
    const t = medianTargetSpacing(spacings, sizes);
    expect(t[1]).toBe(1);
    expect(t[0]).toBeCloseTo(4.4, 12); // percentile(4,5,6,8,10; 10) = 4 + 0.4·1
    expect(medianTargetSpacing([[1, 1, 1], [2, 2, 2], [3, 3, 3]], [[9, 9, 9], [9, 9, 9], [9, 9, 9]])).toEqual([2, 2, 2]);
  });

  it('a low-resolution stage (hence batch Dice) exists only for cases much larger than the patch', () => {
    expect(hasLowResStage([100, 100, 100], [1, 1, 1], [128, 128, 128])).toBe(false);
    expect(hasLowResStage([400, 400, 400], [1, 1, 1], [128, 128, 128])).toBe(true);
  });
});
