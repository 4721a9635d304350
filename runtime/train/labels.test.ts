import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ignoreLabelOf, loadDataset, writeTestDataset, type TestCaseSpec } from '../data/dataset/index.js';
import { computeFingerprint, parsePlans, planFromFingerprint, stringifyPlans, type Plans } from '../data/plan/index.js';
import { preprocessDataset, readCase } from '../data/preprocess/index.js';
import { BatchMaker, type BatchConfig } from './batch.js';
import { diceCeLoss } from './loss.js';
import { Rng } from './rng.js';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';

/**
 * A skull-stripped-like case: a bright ball of "tissue" (non-zero, textured) in a zero background,
 * a small lesion (1) inside, and optionally a slab marked with the ignore label (2).
 */
function brainCase(id: string, size: number, seed: number, withIgnore: boolean): TestCaseSpec {
  const rng = new Rng(seed);
  const n = size ** 3;
  const image = new Float32Array(n);
  const label = new Uint8Array(n);
  const c = (size - 1) / 2;
  for (let k = 0; k < size; k++)
    for (let j = 0; j < size; j++)
      for (let i = 0; i < size; i++) {
        const idx = i + size * (j + size * k);
        const r = Math.hypot(i - c, j - c, k - c);
        if (r > size / 2 - 1) continue; // outside the brain: exactly 0
        const lesion = Math.hypot(i - c - 2, j - c, k - c) < 3;
        label[idx] = lesion ? 1 : withIgnore && k === Math.round(c) + 4 ? 2 : 0;
        image[idx] = 80 + (lesion ? 60 : 0) + 10 * rng.normal();
      }
  return { id, channels: [image], label, shape: [size, size, size] };
}

let root: string;
async function prepare(name: string, withIgnore: boolean): Promise<{ dir: string; plans: Plans; ids: string[] }> {
  const datasetDir = join(root, name);
  const cases = [0, 1].map((i) => brainCase(`case_${i}`, 20, 7 + i, withIgnore));
  const labels: Record<string, number> = withIgnore ? { background: 0, lesion: 1, ignore: 2 } : { background: 0, lesion: 1 };
  writeTestDataset(datasetDir, { channelNames: ['T1'], labels, cases, name });
  const ds = loadDataset(datasetDir);
  const ignore = ignoreLabelOf(ds.json);
  const fp = computeFingerprint({ name, channels: ds.channels, labels: { '0': 'background', '1': 'lesion' }, ignoreLabel: ignore, cases: ds.training });
  const planned = planFromFingerprint(fp, { patch: [16, 16, 16], batchSize: 2, ignoreLabel: ignore });
  planned.preprocessing.normalization[0]!.use_nonzero_mask = true; // as nnU-Net decides for skull-stripped MRI
  const plans = parsePlans(stringifyPlans(planned), 'plans.yaml');
  const dir = join(root, `${name}_pre`);
  const summary = await preprocessDataset({ sources: ds.training, plans, outDir: dir, workers: 0 });
  expect(summary.failed).toEqual([]);
  return { dir, plans, ids: cases.map((c) => c.id) };
}

function config(p: { dir: string; plans: Plans; ids: string[] }, aug: Partial<Plans['augmentation']>): BatchConfig {
  const none = { p: 0 };
  return {
    dir: p.dir,
    train: p.ids,
    val: p.ids,
    training: p.plans.training,
    augmentation: {
      ...p.plans.augmentation,
      rotation: { ...p.plans.augmentation.rotation, p: 0 },
      scaling: { ...p.plans.augmentation.scaling, p: 0 },
      gaussian_noise: { ...p.plans.augmentation.gaussian_noise, ...none },
      gaussian_blur: { ...p.plans.augmentation.gaussian_blur, ...none },
      brightness: { ...p.plans.augmentation.brightness, ...none },
      contrast: { ...p.plans.augmentation.contrast, ...none },
      low_resolution: { ...p.plans.augmentation.low_resolution, ...none },
      gamma_inverted: { ...p.plans.augmentation.gamma_inverted, ...none },
      gamma: { ...p.plans.augmentation.gamma, ...none },
      ...aug,
    },
    useMaskForNorm: p.plans.preprocessing.normalization.map((x) => !!x.use_nonzero_mask),
    ignoreLabel: p.plans.dataset.ignore_label,
    headShapes: [[16, 16, 16]],
    seed: 3,
  };
}

beforeAll(async () => {
  await useBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'mnxc-labels-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('voxels labelled −1 are trained as background (nnU-Net v1 MaskTransform + RemoveLabelTransform(−1, 0))', () => {
  it('the store marks outside-the-mask voxels −1; batches turn them (and the padding) into 0, train and val', async () => {
    const p = await prepare('Dataset901_Brain', false);
    const stored = readCase(p.dir, p.ids[0]!);
    expect(stored.seg!.some((v) => v === -1)).toBe(true);
    const maker = new BatchMaker(config(p, { gaussian_noise: { p: 1, variance: [0.1, 0.1] } }));
    for (const kind of ['train', 'val'] as const) {
      for (let i = 0; i < 4; i++) {
        const b = maker.make({ kind, epoch: 0, index: i });
        expect(b.targets[0]!.every((v) => v === 0 || v === 1), `${kind} batch ${i}`).toBe(true);
      }
    }
  });

  it('after augmentation (noise everywhere) channels normalised in the mask are 0 again outside it', async () => {
    const p = await prepare('Dataset902_Brain', false);
    const maker = new BatchMaker(config(p, { gaussian_noise: { p: 1, variance: [0.1, 0.1] } }));
    let zeros = 0;
    for (let i = 0; i < 4; i++) {
      const b = maker.make({ kind: 'train', epoch: 0, index: i });
      b.input.forEach((v, k) => {
        if (v !== 0) return;
        zeros++;
        expect(b.targets[0]![k]).toBe(0); // only outside the brain (background), never inside the lesion
      });
    }
    // the corners of the cropped box lie outside the ball: the mask put exact zeros back there
    expect(zeros).toBeGreaterThan(100);
  });
});

describe('an explicit ignore label (nnU-Net v2 `labels.ignore`)', () => {
  it('planning keeps it out of the classes; batches mark it −1 and the loss leaves it out', async () => {
    const p = await prepare('Dataset903_BrainIgnore', true);
    expect(p.plans.dataset.ignore_label).toBe(2);
    expect(Object.keys(p.plans.dataset.labels)).toEqual(['0', '1']);
    const maker = new BatchMaker(config(p, {}));
    let ignored = 0;
    for (let i = 0; i < 4; i++) {
      const b = maker.make({ kind: 'val', epoch: 0, index: i });
      for (const v of b.targets[0]!) {
        expect([-1, 0, 1]).toContain(v);
        if (v === -1) ignored++;
      }
    }
    expect(ignored).toBeGreaterThan(0);
    // the loss does not depend on the logits at ignored voxels
    const target = tf.tensor([[0, 1, -1, -1]], [1, 4], 'int32');
    const a = diceCeLoss(tf.tensor([[[2, 0], [0, 2], [0, 0], [0, 0]]], [1, 4, 2]), target, p.plans.training.loss).arraySync();
    const b = diceCeLoss(tf.tensor([[[2, 0], [0, 2], [5, -5], [-3, 9]]], [1, 4, 2]), target, p.plans.training.loss).arraySync();
    expect(b).toBeCloseTo(a as number, 6);
  });
});
