import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../backend.js';
import { MEDNEXT_DS_WEIGHTS } from '../data/plan/plans.js';
import { deepSupervisionLoss, diceCeLoss, headWeights } from './loss.js';
import { addCounts, ema, emptyCounts, meanDice, pseudoDice } from './metrics.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const cfg = { name: 'dice_ce' as const, batch_dice: false, smooth: 1e-5, do_background: false, weight_ce: 1, weight_dice: 1 };
const s = 1e-5;
const lossOf = (logits: number[], shape: number[], target: number[], c = cfg) =>
  tf.tidy(() => diceCeLoss(tf.tensor(logits, shape), tf.tensor(target, shape.slice(0, -1), 'int32'), c).dataSync()[0]!);

describe('Dice + cross-entropy loss (hand-computed values)', () => {
  it('uniform logits, one background and one foreground voxel', () => {
    // softmax = 0.5 everywhere; CE = ln 2; class 1: tp = 0.5, fp = 0.5, fn = 0.5
    const got = lossOf([0, 0, 0, 0], [1, 1, 1, 2, 2], [0, 1]);
    const dc = (2 * 0.5 + s) / (2 * 0.5 + 0.5 + 0.5 + s + 1e-8);
    expect(got).toBeCloseTo(Math.log(2) - dc, 6);
  });

  it('confident logits: CE from log-softmax and Dice from the soft counts', () => {
    // voxel 0 → logits (2, 0) target 0; voxel 1 → (0, 3) target 1
    const p0 = [Math.exp(2) / (Math.exp(2) + 1), 1 / (Math.exp(2) + 1)];
    const p1 = [1 / (1 + Math.exp(3)), Math.exp(3) / (1 + Math.exp(3))];
    const ce = -(Math.log(p0[0]!) + Math.log(p1[1]!)) / 2;
    const tp = p1[1]!, fp = p0[1]!, fn = 1 - p1[1]!;
    const dc = (2 * tp + s) / (2 * tp + fp + fn + s + 1e-8);
    expect(lossOf([2, 0, 0, 3], [1, 1, 1, 2, 2], [0, 1])).toBeCloseTo(ce - dc, 6);
  });

  it('ignore-label voxels (−1) count in neither term', () => {
    // only voxel 0 counts: CE = ln 2; class 1: tp = 0, fp = 0.5, fn = 0
    const got = lossOf([0, 0, 5, -5], [1, 1, 1, 2, 2], [0, -1]);
    expect(got).toBeCloseTo(Math.log(2) - s / (0.5 + s + 1e-8), 6);
    expect(lossOf([0, 0, 5, -5], [1, 1, 1, 2, 2], [0, -1])).toBeCloseTo(lossOf([0, 0], [1, 1, 1, 1, 2], [0]), 6);
  });

  it('batch Dice sums over the batch before dividing; per-sample Dice averages the samples', () => {
    // sample 0: one fg voxel predicted 0.5; sample 1: one bg voxel predicted 0.5 for fg
    const logits = [0, 0, 0, 0], shape = [2, 1, 1, 1, 2], target = [1, 0];
    const ce = Math.log(2);
    const perSample = (((2 * 0.5 + s) / (2 * 0.5 + 0 + 0.5 + s + 1e-8)) + s / (0.5 + s + 1e-8)) / 2;
    const batch = (2 * 0.5 + s) / (2 * 0.5 + 0.5 + 0.5 + s + 1e-8);
    expect(lossOf(logits, shape, target)).toBeCloseTo(ce - perSample, 6);
    expect(lossOf(logits, shape, target, { ...cfg, batch_dice: true })).toBeCloseTo(ce - batch, 6);
  });

  it('deep-supervision weights: MedNeXt 1, ½, ¼, ⅛, 1/16 normalised over the heads present', () => {
    expect(headWeights(MEDNEXT_DS_WEIGHTS, 5).map((w) => +w.toFixed(4))).toEqual([0.5161, 0.2581, 0.129, 0.0645, 0.0323]);
    expect(headWeights(MEDNEXT_DS_WEIGHTS, 3).map((w) => +w.toFixed(4))).toEqual([0.5714, 0.2857, 0.1429]);
    expect(headWeights(MEDNEXT_DS_WEIGHTS, 1)).toEqual([1]);
    const a = lossOf([2, 0, 0, 3], [1, 1, 1, 2, 2], [0, 1]);
    const b = lossOf([0, 0, 0, 0], [1, 1, 1, 2, 2], [0, 1]);
    const ds = tf.tidy(() =>
      deepSupervisionLoss(
        [tf.tensor([2, 0, 0, 3], [1, 1, 1, 2, 2]), tf.tensor([0, 0, 0, 0], [1, 1, 1, 2, 2])],
        [tf.tensor([0, 1], [1, 1, 1, 2], 'int32'), tf.tensor([0, 1], [1, 1, 1, 2], 'int32')],
        [0.75, 0.25],
        cfg,
      ).dataSync()[0]!,
    );
    expect(ds).toBeCloseTo(0.75 * a + 0.25 * b, 6);
  });
});

describe('validation pseudo Dice', () => {
  it('sums hard tp / fp / fn over batches, skips ignore voxels, and averages the EMA as nnU-Net', () => {
    const c = emptyCounts(2);
    tf.tidy(() => {
      // argmax per voxel: 0, 1, 2, 1 ; targets: 0, 1, 1, −1
      addCounts(c, tf.tensor([5, 0, 0, 0, 5, 0, 0, 0, 5, 0, 5, 0], [1, 1, 1, 4, 3]), tf.tensor([0, 1, 1, -1], [1, 1, 1, 4], 'int32'));
      // second batch: voxel predicted 2, target 2
      addCounts(c, tf.tensor([0, 0, 5], [1, 1, 1, 1, 3]), tf.tensor([2], [1, 1, 1, 1], 'int32'));
    });
    expect(c).toEqual({ tp: [1, 1], fp: [0, 1], fn: [1, 0] });
    const d = pseudoDice(c);
    expect(d[0]).toBeCloseTo(2 / 3, 10);
    expect(d[1]).toBeCloseTo(2 / 3, 10);
    expect(meanDice([0.5, NaN, 1])).toBe(0.75);
    expect(ema(null, 0.4, 0.9)).toBe(0.4);
    expect(ema(0.4, 0.8, 0.9)).toBeCloseTo(0.44, 12);
  });
});
