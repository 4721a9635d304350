import * as tf from '@tensorflow/tfjs-core';
import { assertRank5, triple } from './spatial.js';

/**
 * Constant zero padding of the spatial axes of an NDHWC tensor: `before[i]` planes at the
 * start and `after[i]` at the end of spatial axis i (D, H, W). MedNeXt's up block uses
 * before = [1, 1, 1], after = [0, 0, 0] (PyTorch `F.pad(x, (1,0,1,0,1,0))`).
 */
export function padSpatial(x: tf.Tensor, before: number | readonly number[], after: number | readonly number[]): tf.Tensor5D {
  assertRank5(x, 'pad');
  const b = triple(before, 'pad before');
  const a = triple(after, 'pad after');
  if (b.every((v) => v === 0) && a.every((v) => v === 0)) return x;
  return tf.pad(x, [[0, 0], [b[0], a[0]], [b[1], a[1]], [b[2], a[2]], [0, 0]]);
}
