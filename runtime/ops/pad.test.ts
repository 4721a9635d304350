import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import { padSpatial } from './pad.js';
import { leakyRelu } from './leaky-relu.js';

describe.each(['cpu', 'wasm'] as const)('pad and leakyRelu on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('adds zero planes at the start of each spatial axis as F.pad(x, (1,0,1,0,1,0)) does', () => {
    const y = tf.tidy(() => padSpatial(tf.ones([1, 2, 3, 4, 2]), [1, 1, 1], [0, 0, 0]));
    expect(y.shape).toEqual([1, 3, 4, 5, 2]);
    const v = y.arraySync() as number[][][][][];
    expect(v[0]![0]![3]![4]).toEqual([0, 0]); // depth plane 0
    expect(v[0]![2]![0]![4]).toEqual([0, 0]); // height plane 0
    expect(v[0]![2]![3]![0]).toEqual([0, 0]); // width plane 0
    expect(v[0]![1]![1]![1]).toEqual([1, 1]);
    expect(y.sum().dataSync()[0]).toBe(2 * 3 * 4 * 2);
    y.dispose();
  });

  it('pads its gradient back off', () => {
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(padSpatial(x, [1, 0, 2], [0, 1, 0]), 3)))(tf.ones([1, 2, 2, 2, 1])));
    expect(Array.from(g.dataSync())).toEqual(new Array(8).fill(3));
    g.dispose();
  });

  it('leakyRelu uses the given slope, not TF.js’s 0.2 default', () => {
    const y = tf.tidy(() => leakyRelu(tf.tensor1d([-2, 0, 3]), 0.01));
    expect(Array.from(y.dataSync())).toEqual([Math.fround(-0.02), 0, 3]);
    y.dispose();
  });
});
