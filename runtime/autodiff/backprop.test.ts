import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { useBackend } from '../backend.js';
import { recomputeGrad } from '../kernels/recompute.js';
import { buildModel, type MnxModel } from '../model/model.js';
import { gradients, grads, variableGrads } from './backprop.js';

beforeAll(async () => {
  await useBackend('cpu');
});

function tinyModel(): MnxModel {
  const r = compileFile('examples/tiny.mnx', { inputSize: [16, 16, 16] });
  if (!r.ir) throw new Error('examples/tiny.mnx does not compile');
  return buildModel(r.ir, { seed: 3 });
}

/** A scalar of every head, weighted so each head's gradient differs. */
function lossOf(model: MnxModel, x: tf.Tensor, checkpoint = false): tf.Scalar {
  const outs = model.forward(x, { training: true, checkpoint });
  return tf.addN(outs.map((o, i) => tf.mul(tf.mean(tf.square(o)), i + 1))) as tf.Scalar;
}

describe('backprop with early release', () => {
  it('gives bit-identical gradients to TF.js on a compiled MedNeXt, and leaks no tensor', () => {
    const model = tinyModel();
    const x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 7);
    const vars = model.trainableVariables();
    const ref = tf.variableGrads(() => lossOf(model, x), vars);
    const before = tf.memory().numTensors;
    const ours = variableGrads(() => lossOf(model, x), vars);
    expect(Object.keys(ours.grads).sort()).toEqual(Object.keys(ref.grads).sort());
    expect(ours.value.dataSync()[0]).toBe(ref.value.dataSync()[0]);
    for (const name of Object.keys(ref.grads)) {
      expect(Array.from(ours.grads[name]!.dataSync()), name).toEqual(Array.from(ref.grads[name]!.dataSync()));
    }
    // What is left is exactly the value and one gradient per variable.
    expect(tf.memory().numTensors - before).toBe(1 + Object.keys(ours.grads).length);
    tf.dispose([ours.value, ref.value, ...Object.values(ours.grads), ...Object.values(ref.grads)]);
    x.dispose();
    model.dispose();
  });

  it('holds less at its peak than TF.js’s walk', async () => {
    const model = tinyModel();
    const x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 8);
    const vars = model.trainableVariables();
    const peak = async (walk: typeof variableGrads) =>
      (
        await tf.profile(() => {
          const { value, grads: g } = walk(() => lossOf(model, x), vars);
          tf.dispose([value, ...Object.values(g)]);
        })
      ).peakBytes;
    const theirs = await peak((f, v) => tf.variableGrads(f, v));
    const ours = await peak(variableGrads);
    expect(ours).toBeLessThan(0.75 * theirs);
    x.dispose();
    model.dispose();
  });

  it('agrees with TF.js under block checkpointing, nested either way', () => {
    const r = compileFile('examples/tiny.mnx', { inputSize: [16, 16, 16] });
    const ir = { ...r.ir!, hints: { ...r.ir!.hints, checkpointStyle: 'outside_block' as const } };
    const model = buildModel(ir, { seed: 4 });
    const x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 9);
    const vars = model.trainableVariables();
    const plain = variableGrads(() => lossOf(model, x), vars);
    const ours = variableGrads(() => lossOf(model, x, true), vars);
    const theirs = tf.variableGrads(() => lossOf(model, x, true), vars);
    for (const name of Object.keys(plain.grads)) {
      const want = plain.grads[name]!.dataSync();
      for (const got of [ours.grads[name]!.dataSync(), theirs.grads[name]!.dataSync()]) {
        let err = 0;
        for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
        expect(err, name).toBeLessThan(1e-5);
      }
    }
    tf.dispose([plain.value, ours.value, theirs.value, ...[plain, ours, theirs].flatMap((g) => Object.values(g.grads))]);
    x.dispose();
    model.dispose();
  });

  it('handles a gradient function that hands back its dy, for two inputs', () => {
    const passThrough = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [a, b] = args as tf.Tensor[];
      return { value: tf.add(a!, b!), gradFunc: (dy: tf.Tensor) => [dy, dy] };
    });
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.tensor1d([4, 5, 6]);
    const before = tf.memory().numTensors;
    const [ga, gb] = grads((p, q) => tf.sum(tf.mul(passThrough(p!, q!) as tf.Tensor, tf.tensor1d([1, 2, 3]))), [a, b]);
    expect(Array.from(ga!.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(gb!.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([ga!, gb!]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('keeps a gradient that is one of the node’s saved tensors alive after freeing the saved set', () => {
    const savedAsGradient = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const a = args[0] as tf.Tensor;
      (args[1] as tf.GradSaveFunc)([tf.mul(a, 3)]);
      return { value: tf.mul(a, 2), gradFunc: (_dy: tf.Tensor, saved: tf.Tensor[]) => [saved[0]!] };
    });
    const a = tf.tensor1d([1, -2]);
    const [g] = grads((t) => tf.sum(savedAsGradient(t!) as tf.Tensor), [a]);
    expect(Array.from(g!.dataSync())).toEqual([3, -6]);
    tf.dispose([a, g!]);
  });

  it('recomputes through recomputeGrad and accumulates gradients of a tensor read twice', () => {
    const x = tf.tensor1d([0.5, -1, 2]);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(recomputeGrad((u) => tf.mul(tf.exp(u), u), [t]), t));
    const [g] = grads(f, [x]);
    const [want] = tf.grads(f)([x]);
    expect(Array.from(g!.dataSync())).toEqual(Array.from(want!.dataSync()));
    tf.dispose([x, g!, want!]);
  });

  it('returns null for an x the value does not depend on', () => {
    const a = tf.scalar(2);
    const b = tf.scalar(3);
    const { value, grads: g } = gradients(() => tf.square(a), [a, b]);
    expect(g[0]!.dataSync()[0]).toBe(4);
    expect(g[1]).toBeNull();
    tf.dispose([a, b, value, g[0]!]);
  });
});
