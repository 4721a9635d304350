import * as tf from '@tensorflow/tfjs-core';
import { grads } from '../autodiff/backprop.js';
import { depthwiseConv3dSlabs } from './depthwise-conv3d.js';
import { assertDepthwiseFilter, assertRank5, triple, zeroInsert } from './spatial.js';

/**
 * Depthwise transposed 3-D convolution with PyTorch's `ConvTranspose3d(groups=C)` semantics:
 * output extent (n - 1)·s − 2p + k per axis (2n − 1 for MedNeXt's up block: s = 2, p = k//2,
 * odd k). No output_padding; the up block's extra zero plane is a separate `pad` op.
 *
 *   x       [N, D, H, W, C]
 *   filter  [kD, kH, kW, C, 1]   (runtime layout; PyTorch's is [C, 1, kD, kH, kW])
 *
 * The forward pass is the textbook form: a plain convolution of the zero-inserted input (s − 1
 * zeros between voxels) with the spatially flipped kernel and k − 1 − p zero planes on each side.
 * Splitting by output phase (s³ small convolutions of x, none of the zeros' wasted work) was
 * measured and lost: interleaving the phases back costs more than the zeros on tensorflow, and
 * 12× on wasm. The gradient is written out from the adjoint: dx is the strided convolution of dy
 * with the filter (stride s, padding p: 1/s³ of the forward's voxels), dfilter that
 * convolution's filter gradient against x, dbias dy's sum. Only x and the filter are kept
 * between the passes, and the zero-inserted input (8× the voxels at stride 2) is never rerun.
 */
export function depthwiseConvTranspose3d(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  assertRank5(x, 'depthwiseConvTranspose3d');
  const k = triple(filter.shape.slice(0, 3), 'depthwiseConvTranspose3d kernel');
  const s = triple(stride, 'depthwiseConvTranspose3d stride');
  const p = triple(padding, 'depthwiseConvTranspose3d padding');
  const inner = k.map((kk, i) => kk - 1 - p[i]!);
  if (inner.some((v) => v < 0)) {
    throw new Error(`depthwiseConvTranspose3d: padding [${p.join(', ')}] exceeds kernel − 1 for kernel [${k.join(', ')}]`);
  }
  assertDepthwiseFilter(x, filter, 'depthwiseConvTranspose3d');
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xs, fs, bs] = args as tf.Tensor[];
    save([xs!, fs!]);
    return {
      value: tf.tidy(() => depthwiseConv3dSlabs(zeroInsert(xs as tf.Tensor5D, s), tf.reverse(fs!, [0, 1, 2]), 1, inner, bs)),
      gradFunc: (dy: tf.Tensor, [sx, sf]: tf.Tensor[]) => {
        // y = convᵀ(x, f)  ⇔  ⟨y, dy⟩ = ⟨x, conv_s(dy, f)⟩: dx is that strided convolution, and
        // dfilter its filter gradient with x as the upstream gradient.
        const dx = depthwiseConv3dSlabs(dy, sf!, s, p);
        const [df] = grads((f) => tf.sum(tf.mul(depthwiseConv3dSlabs(dy, f, s, p), sx!)), [sf!]);
        if (!bs) return [dx, df!];
        return [dx, df!, tf.tidy(() => tf.sum(tf.reshape(dy, [-1, dy.shape[4]!]), 0))];
      },
    };
  });
  return (bias ? op(x, filter, bias) : op(x, filter)) as tf.Tensor5D;
}
