import * as tf from '@tensorflow/tfjs-core';
import { avgPool } from './avg-pool.js';
import { convTranspose3d } from './conv-transpose3d.js';
import { conv3d } from './conv3d.js';
import { depthwiseConvTranspose3d } from './depthwise-conv-transpose3d.js';
import { depthwiseConv3d } from './depthwise-conv3d.js';
import { gelu } from './gelu.js';
import { groupedConv3d } from './grouped-conv3d.js';
import { grn } from './grn.js';
import { groupNorm } from './group-norm.js';
import { layerNorm } from './layer-norm.js';
import { leakyRelu } from './leaky-relu.js';
import { padSpatial } from './pad.js';
import * as tensorOps from './tensor.js';
import { geluPointwise, normGeluPointwise, normPointwise } from '../kernels/fused-pointwise.js';

/**
 * The operations the model builder uses, behind one interface so a faster kernel (fused,
 * native, WASM) can replace one entry without touching the builder: `setOp('gelu', fast)`.
 * Activations are channels-last (NDHWC); filters are in the runtime layouts documented in
 * each op's file (runtime/weights converts from PyTorch's).
 */
export interface Ops {
  conv3d: typeof conv3d;
  depthwiseConv3d: typeof depthwiseConv3d;
  convTranspose3d: typeof convTranspose3d;
  depthwiseConvTranspose3d: typeof depthwiseConvTranspose3d;
  /** Grouped conv that is neither dense nor depthwise; filter in PyTorch layout. */
  groupedConv3d: typeof groupedConv3d;
  pad: typeof padSpatial;
  /** Average pooling, window = stride, no padding (a residual block's strided skip). */
  avgPool: typeof avgPool;
  groupNorm: typeof groupNorm;
  layerNorm: typeof layerNorm;
  gelu: typeof gelu;
  grn: typeof grn;
  leakyRelu: typeof leakyRelu;
  relu: (x: tf.Tensor) => tf.Tensor;
  /** Element-wise sum of all inputs. */
  add: (xs: tf.Tensor[]) => tf.Tensor;
  /** Channel concatenation, inputs in order. */
  concat: (xs: tf.Tensor[]) => tf.Tensor;
  /** 1×1×1 convolution of GELU(x), keeping only x for backprop (runtime/kernels/fused-pointwise.ts). */
  geluPointwise: typeof geluPointwise;
  /** 1×1×1 convolution of GroupNorm(x), keeping only GroupNorm's own saved tensors. */
  normPointwise: typeof normPointwise;
  /** GroupNorm → 1×1×1 conv → GELU → 1×1×1 conv (a MedNeXt block's tail), keeping GroupNorm's saved set. */
  normGeluPointwise: typeof normGeluPointwise;
  // General tensors (runtime/ops/tensor.ts): [N, ...dims] in PyTorch order.
  channelsLast: typeof tensorOps.channelsLast;
  featureMap: typeof tensorOps.featureMap;
  reshape: typeof tensorOps.reshape;
  permute: typeof tensorOps.permute;
  slice: typeof tensorOps.slice;
  concatAxis: typeof tensorOps.concatAxis;
  roll: typeof tensorOps.roll;
  linear: typeof tensorOps.linear;
  matmul: typeof tensorOps.matmul;
  softmax: typeof tensorOps.softmax;
  binary: typeof tensorOps.binary;
  scale: typeof tensorOps.scale;
  parameter: typeof tensorOps.parameter;
  gather: typeof tensorOps.gather;
  mean: typeof tensorOps.mean;
  padAxes: typeof tensorOps.padAxes;
  batchNorm: typeof tensorOps.batchNorm;
  standardizeFilter: typeof tensorOps.standardizeFilter;
  maxPool: typeof tensorOps.maxPool;
  upsampleBilinear: typeof tensorOps.upsampleBilinear;
}

const defaults: Ops = {
  conv3d,
  depthwiseConv3d,
  convTranspose3d,
  depthwiseConvTranspose3d,
  groupedConv3d,
  pad: padSpatial,
  avgPool,
  groupNorm,
  layerNorm,
  gelu,
  grn,
  leakyRelu,
  relu: (x) => tf.relu(x),
  // AddN, not Add, for equal shapes: Add's gradient keeps both inputs alive (to undo a
  // broadcast), AddN's keeps nothing; the sum is the same.
  add: (xs) => (xs.length === 1 ? tf.clone(xs[0]!) : xs.every((x) => tf.util.arraysEqual(x.shape, xs[0]!.shape)) ? tf.addN(xs) : xs.slice(1).reduce((a, b) => tf.add(a, b), xs[0]!)),
  concat: (xs) => tf.concat(xs, -1),
  geluPointwise,
  normPointwise,
  normGeluPointwise,
  ...tensorOps,
};

/** The current implementations (a live object: the builder looks ops up at call time). */
export const ops: Ops = { ...defaults };

/** Replaces one op's implementation (e.g. with a faster kernel); returns the previous one. */
export function setOp<K extends keyof Ops>(name: K, impl: Ops[K]): Ops[K] {
  const prev = ops[name];
  ops[name] = impl;
  return prev;
}

/** Restores the built-in implementation of every op. */
export function resetOps(): void {
  Object.assign(ops, defaults);
}

export { avgPool, conv3d, convTranspose3d, depthwiseConv3d, depthwiseConvTranspose3d, gelu, grn, groupNorm, layerNorm, leakyRelu, padSpatial };
