import * as tf from '@tensorflow/tfjs-core';
import { recomputeGrad } from '../kernels/recompute.js';
import { padSpatial } from './pad.js';
import { assertDepthwiseFilter, assertRank5, takeStrided, triple, validOut, type Triple } from './spatial.js';

/**
 * Depthwise 3-D convolution (one filter per channel, channel multiplier 1) with PyTorch's
 * `padding` semantics: `padding[i]` zero planes on both sides of spatial axis i, then a VALID
 * strided window. (TF's `same` pads asymmetrically at stride 2, so it is not used.)
 *
 *   x       [N, D, H, W, C]
 *   filter  [kD, kH, kW, C, 1]   (runtime layout; PyTorch's is [C, 1, kD, kH, kW])
 *
 * TF.js has no depthwise conv3d and libtensorflow refuses grouped Conv3D on CPU, so the depth
 * axis is unrolled into kD 2-D depthwise convolutions, one per depth tap, summed
 * (`depthwiseConv3dSlabs`).
 *
 * Gradients. At depth stride 1 (every MedNeXt block's conv1) they are written out: dx is the
 * same convolution of dy with the flipped filter and k − 1 − p zero planes, dfilter per depth
 * tap a 2-D depthwise filter gradient of the padded input's planes against dy, dbias dy's sum;
 * only x and the filter are kept, and no forward is rerun. At other strides the gradient is
 * TF.js autodiff of the ops, taken on a rerun in the backward pass (`recomputeGrad`) so that
 * only x and the filter are kept between the passes, not the padded copy and kD slabs.
 */
export function depthwiseConv3d(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  const s = triple(stride, 'depthwiseConv3d stride');
  const p = triple(padding, 'depthwiseConv3d padding');
  const k = filter.shape.slice(0, 3);
  if (s.every((v) => v === 1) && p.every((v, i) => v <= k[i]! - 1)) return depthwiseConv3dUnitStride(x, filter, p, bias);
  // The bias is inside the rerun too: added outside, its gradient would keep the unbiased output.
  if (bias) return recomputeGrad((a, f, b) => depthwiseConv3dSlabs(a, f, stride, padding, b), [x, filter, bias]) as tf.Tensor5D;
  return recomputeGrad((a, f) => depthwiseConv3dSlabs(a, f, stride, padding), [x, filter]) as tf.Tensor5D;
}

/** Stride 1, padding ≤ k − 1 per axis: the convolution with its gradient written out. */
function depthwiseConv3dUnitStride(x: tf.Tensor, filter: tf.Tensor, p: Triple, bias?: tf.Tensor): tf.Tensor5D {
  const k = filter.shape.slice(0, 3) as number[];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xs, fs, bs] = args as tf.Tensor[];
    save([xs!, fs!]);
    return {
      value: depthwiseConv3dSlabs(xs!, fs!, 1, p, bs),
      gradFunc: (dy: tf.Tensor, [sx, sf]: tf.Tensor[]) => {
        // y = corr(pad_p(x), f)  ⇒  dx = corr(pad_{k−1−p}(dy), flip(f)): the same kernel, no recompute.
        const dx = depthwiseConv3dSlabs(dy, tf.reverse(sf!, [0, 1, 2]), 1, k.map((kk, i) => kk - 1 - p[i]!));
        const df = tf.tidy(() => filterGradient(padSpatial(sx!, p, p), dy as tf.Tensor5D, k));
        if (!bs) return [dx, df];
        return [dx, df, tf.tidy(() => tf.sum(tf.reshape(dy, [-1, sx!.shape[4]!]), 0))];
      },
    };
  });
  return (bias ? op(x, filter, bias) : op(x, filter)) as tf.Tensor5D;
}

/**
 * dfilter of a stride-1 depthwise convolution: for each depth tap a, the 2-D depthwise filter
 * gradient of the padded input's planes (a view, as in `depthwiseConv3dSlabs`) against dy laid
 * out on the same plane index. xp [N, Dp, Hp, Wp, C] (padded), dy [N, Do, Ho, Wo, C].
 */
function filterGradient(xp: tf.Tensor5D, dy: tf.Tensor5D, k: number[]): tf.Tensor {
  const [n, dp, hp, wp, c] = xp.shape;
  const [, dOut, ho, wo] = dy.shape;
  const [kd, kh, kw] = k as [number, number, number];
  const planes = n * dp - kd + 1;
  // dy on the plane grid of the output's sum: sample n's output plane d at n·Dp + d, zeros between.
  const samples = tf.reshape(dy, [n * dOut, ho, wo, c]);
  const gap = tf.zeros([dp - dOut, ho, wo, c]);
  const dyPlanes = n === 1 ? samples : tf.concat(Array.from({ length: n }, (_, i) => [tf.slice(samples, i * dOut, dOut), ...(i < n - 1 ? [gap] : [])]).flat(), 0);
  const flat = tf.reshape(xp, [n * dp, hp, wp, c]);
  const taps = Array.from({ length: kd }, (_, a) =>
    tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.slice(flat, a, planes), dy: dyPlanes }, { strides: [1, 1], pad: 'valid', dilations: [1, 1], filterShape: [kh, kw, c, 1] }) as tf.Tensor,
  );
  return tf.stack(taps, 0); // [kD, kH, kW, C, 1]
}

/**
 * The depthwise convolution as TF.js ops (their autodiff is the gradient at strides other
 * than 1). At depth stride 1 the padded input is seen as N·Dp planes of [Hp, Wp, C] (a view);
 * depth tap a convolves planes a … a + N·Dp − kD, so every tap's result lands on the same plane
 * index (sample n's output plane d at n·Dp + d) and the sum needs no copies of the input; with
 * more than one sample, the kD − 1 planes that straddle two samples are dropped at the end.
 * At depth stride s the planes a, a + s, … of each sample are gathered per tap.
 */
export function depthwiseConv3dSlabs(
  x: tf.Tensor,
  filter: tf.Tensor,
  stride: number | readonly number[],
  padding: number | readonly number[],
  bias?: tf.Tensor,
): tf.Tensor5D {
  assertRank5(x, 'depthwiseConv3d');
  assertDepthwiseFilter(x, filter, 'depthwiseConv3d');
  const [kd, kh, kw] = filter.shape as number[];
  const [n, , , , c] = x.shape;
  const s = triple(stride, 'depthwiseConv3d stride');
  const p = triple(padding, 'depthwiseConv3d padding');
  return tf.tidy(() => {
    const xp = padSpatial(x, p, p);
    const [, dp, hp, wp] = xp.shape;
    const dOut = validOut(dp, kd!, s[0]);
    if (dOut < 1 || validOut(hp, kh!, s[1]) < 1 || validOut(wp, kw!, s[2]) < 1) {
      throw new Error(`depthwiseConv3d: input [${x.shape.join(', ')}] is smaller than the kernel ${kd}×${kh}×${kw} after padding`);
    }
    const tap = (a: number) => tf.reshape(tf.slice(filter, [a, 0, 0, 0, 0], [1, kh!, kw!, c, 1]), [kh!, kw!, c, 1]) as tf.Tensor4D;
    const sum = (parts: tf.Tensor4D[]) => (parts.length === 1 ? parts[0]! : tf.addN(parts));
    let y: tf.Tensor;
    if (s[0] === 1) {
      const planes = n * dp - kd! + 1;
      const flat = tf.reshape(xp, [n * dp, hp, wp, c]);
      const z = sum(Array.from({ length: kd! }, (_, a) => tf.depthwiseConv2d(tf.slice(flat, a, planes) as tf.Tensor4D, tap(a), [s[1], s[2]], 'valid')));
      const [, ho, wo] = z.shape;
      // Sample i's planes are a contiguous run of z (a view); one concat drops the straddling ones.
      const valid = n === 1 ? z : tf.concat(Array.from({ length: n }, (_, i) => tf.slice(z, i * dp, dOut)), 0);
      y = tf.reshape(valid, [n, dOut, ho!, wo!, c]);
    } else {
      const parts = Array.from({ length: kd! }, (_, a) => tf.depthwiseConv2d(tf.reshape(takeStrided(xp, 1, a, dOut, s[0]), [n * dOut, hp, wp, c]) as tf.Tensor4D, tap(a), [s[1], s[2]], 'valid'));
      const z = sum(parts);
      const [, ho, wo] = z.shape;
      y = tf.reshape(z, [n, dOut, ho!, wo!, c]);
    }
    if (bias) y = tf.add(y, bias);
    return y as tf.Tensor5D;
  });
}
