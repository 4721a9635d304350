/**
 * One window through the network with test-time mirroring (nnU-Net v1
 * `_internal_maybe_mirror_and_pred_3D`): for every subset of the mirror axes, flip the input, run the
 * network, softmax the full-resolution output, flip it back, and average the probabilities (v1
 * averages softmax, not logits). Each mirrored pass runs in its own tf.tidy and only the running
 * sum survives it, so memory stays at one pass plus the sum.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Triple } from '../data/plan/plans.js';
import type { MnxModel } from '../model/model.js';
import type { WindowPredictor } from './sliding-window.js';

/** Every subset of `axes` (spatial array axes 0..2), the empty one first: 2^n combinations. */
export function mirrorCombinations(axes: readonly number[]): number[][] {
  const out: number[][] = [[]];
  for (const a of axes) for (const prev of [...out]) out.push([...prev, a]);
  return out;
}

/** Probabilities [1, p0, p1, p2, K] of the network on `x` [1, p0, p1, p2, C], averaged over the mirrors. */
export function predictMirrored(model: MnxModel, x: tf.Tensor, mirrorAxes: readonly number[], nonlin: 'softmax' | 'sigmoid' = 'softmax', oneSlice2d = false): tf.Tensor {
  const combos = mirrorCombinations(mirrorAxes);
  let sum: tf.Tensor | null = null;
  for (const axes of combos) {
    const dims = axes.map((a) => a + 1);
    const p = tf.tidy(() => {
      const input = dims.length > 0 ? tf.reverse(x, dims) : x;
      // a 2-D network on a one-slice window [1, 1, h, w, C]: forward [1, h, w, C], back to 5-D
      const out = model.forward(oneSlice2d ? tf.squeeze(input, [1]) : input)[0]!;
      const logits = oneSlice2d ? tf.expandDims(out, 1) : out;
      // region-based networks: sigmoid per region (the region trainer's inference_apply_nonlin)
      const probabilities = nonlin === 'sigmoid' ? tf.sigmoid(logits) : tf.softmax(logits);
      return dims.length > 0 ? tf.reverse(probabilities, dims) : probabilities;
    });
    if (sum === null) sum = p;
    else {
      const next: tf.Tensor = tf.add(sum, p);
      tf.dispose([sum, p]);
      sum = next;
    }
  }
  const mean = tf.mul(sum!, 1 / combos.length);
  sum!.dispose();
  return mean;
}

/** The network as a `WindowPredictor` for patches of `patch` with `channels` input channels. */
export function modelWindowPredictor(
  model: MnxModel,
  patch: Triple,
  channels: number,
  mirrorAxes: readonly number[],
  nonlin: 'softmax' | 'sigmoid' = 'softmax',
  oneSlice2d = false,
): WindowPredictor {
  return async (data) => {
    const x = tf.tensor(data, [1, ...patch, channels], 'float32');
    const p = predictMirrored(model, x, mirrorAxes, nonlin, oneSlice2d);
    x.dispose();
    const out = (await p.data()) as Float32Array;
    p.dispose();
    return out;
  };
}
