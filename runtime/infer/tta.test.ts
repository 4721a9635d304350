import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT } from '../../tests/fixtures.js';
import { useBackend } from '../backend.js';
import { buildModel, type MnxModel } from '../model/model.js';
import { compileTestIR } from '../../app/testing.js';
import { mirrorCombinations, predictMirrored } from './tta.js';

describe('mirror combinations', () => {
  it('are every subset of the axes, the identity first', () => {
    expect(mirrorCombinations([])).toEqual([[]]);
    const all = mirrorCombinations([0, 1, 2]);
    expect(all.length).toBe(8);
    expect(all[0]).toEqual([]);
    expect(new Set(all.map((s) => [...s].sort().join(','))).size).toBe(8);
    expect(mirrorCombinations([2])).toEqual([[], [2]]);
  });
});

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('test-time mirroring with the tiny MedNeXt (wasm)', () => {
  let model: MnxModel;
  let x: tf.Tensor;
  beforeAll(async () => {
    await useBackend('wasm');
    model = buildModel(compileTestIR(join(ROOT, 'examples', 'tiny.mnx'), ['n_classes=3']), { seed: 3 });
    x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 7);
  });
  afterAll(() => {
    x.dispose();
    model.dispose();
  });

  it('without mirrors is the softmax of the full-resolution output', () => {
    const p = predictMirrored(model, x, []);
    const ref = tf.tidy(() => tf.softmax(model.forward(x)[0]!));
    expect(p.shape).toEqual([1, 16, 16, 16, 3]);
    expect(maxDiff(p, ref)).toBeLessThan(1e-6);
    tf.dispose([p, ref]);
  });

  it('makes the prediction mirror-equivariant: TTA(flip x) = flip TTA(x); the bare network is not', () => {
    const before = tf.memory().numTensors;
    for (const axes of [[1], [2, 3], [1, 2, 3]]) {
      const flipped = tf.reverse(x, axes);
      const a = predictMirrored(model, flipped, [0, 1, 2]);
      const b0 = predictMirrored(model, x, [0, 1, 2]);
      const b = tf.reverse(b0, axes);
      expect(maxDiff(a, b), `axes ${axes}`).toBeLessThan(1e-5);
      const plainA = predictMirrored(model, flipped, []);
      const plainB0 = predictMirrored(model, x, []);
      const plainB = tf.reverse(plainB0, axes);
      expect(maxDiff(plainA, plainB), `axes ${axes}, no TTA`).toBeGreaterThan(1e-3);
      tf.dispose([flipped, a, b0, b, plainA, plainB0, plainB]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives probabilities that sum to 1 per voxel', () => {
    const p = predictMirrored(model, x, [0, 1, 2]);
    const s = tf.sum(p, -1);
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(s, 1))).dataSync()[0]!);
    expect(err).toBeLessThan(1e-5);
    tf.dispose([p, s]);
  });
});
