/**
 * MedNeXt's three block kinds composed from the ops and checked against the official
 * PyTorch outputs (shared fixtures, mednext-reference/README.md): block_k3, block_k5,
 * down_k3, up_k3, each within max|out − ref| ≤ 2e-5 + 2e-5·max|ref|.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../backend.js';
import type { TensorMap } from '../io/safetensors.js';
import { toRuntime, type ParamLayout } from '../weights/layout.js';
import { ops } from './index.js';
import { activation, loadCase, maxAbs, maxAbsDiff } from './test-helpers.js';

const dw = (kind: 'conv' | 'conv_transpose'): ParamLayout => ({ kind, depthwise: true, spatialDims: 3 });
const dense = (kind: 'conv' | 'conv_transpose'): ParamLayout => ({ kind, depthwise: false, spatialDims: 3 });

/** A fixture tensor in the runtime layout. */
function param(w: TensorMap, name: string, layout: ParamLayout = { kind: 'plain' }): tf.Tensor {
  const t = w.get(name);
  if (!t) throw new Error(`fixture lacks ${name}`);
  const r = toRuntime(layout, { shape: t.shape, data: t.data as Float32Array });
  return tf.tensor(r.data, r.shape, 'float32');
}

/** norm → conv2 (1×1×1) → GELU → conv3 (1×1×1): the part all three blocks share. */
function tail(w: TensorMap, x1: tf.Tensor): tf.Tensor {
  const n = ops.groupNorm(x1, x1.shape[4]!, 1e-5, param(w, 'norm.weight'), param(w, 'norm.bias'));
  const h = ops.gelu(ops.conv3d(n, param(w, 'conv2.weight', dense('conv')), 1, 0, param(w, 'conv2.bias')));
  return ops.conv3d(h, param(w, 'conv3.weight', dense('conv')), 1, 0, param(w, 'conv3.bias'));
}

function block(w: TensorMap, x: tf.Tensor, k: number): tf.Tensor {
  const x1 = ops.depthwiseConv3d(x, param(w, 'conv1.weight', dw('conv')), 1, k >> 1, param(w, 'conv1.bias'));
  return ops.add([x, tail(w, x1)]);
}

function down(w: TensorMap, x: tf.Tensor, k: number): tf.Tensor {
  const x1 = ops.depthwiseConv3d(x, param(w, 'conv1.weight', dw('conv')), 2, k >> 1, param(w, 'conv1.bias'));
  const res = ops.conv3d(x, param(w, 'res_conv.weight', dense('conv')), 2, 0, param(w, 'res_conv.bias'));
  return ops.add([tail(w, x1), res]);
}

function up(w: TensorMap, x: tf.Tensor, k: number): tf.Tensor {
  const x1 = ops.depthwiseConvTranspose3d(x, param(w, 'conv1.weight', dw('conv_transpose')), 2, k >> 1, param(w, 'conv1.bias'));
  const main = ops.pad(tail(w, x1), 1, 0);
  const res = ops.pad(ops.convTranspose3d(x, param(w, 'res_conv.weight', dense('conv_transpose')), 2, 0, param(w, 'res_conv.bias')), 1, 0);
  return ops.add([main, res]);
}

const CASES = [
  { name: 'block_k3', k: 3, fn: block },
  { name: 'block_k5', k: 5, fn: block },
  { name: 'down_k3', k: 3, fn: down },
  { name: 'up_k3', k: 3, fn: up },
];

describe.each(['cpu', 'wasm'] as const)('MedNeXt blocks from the ops on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each(CASES)('$name matches the official PyTorch output', ({ name, k, fn }) => {
    const c = loadCase(name);
    const y = tf.tidy(() => fn(c.weights, activation(c.io, 'input'), k));
    const ref = activation(c.io, 'output');
    expect(y.shape).toEqual(ref.shape);
    const refData = ref.dataSync();
    const err = maxAbsDiff(y.dataSync(), refData);
    const tol = 2e-5 + 2e-5 * maxAbs(refData);
    expect(tol).toBeCloseTo(c.meta.outputs[0]!.tolerance_max_abs_err, 8);
    expect(err, `${backend} ${name}: max abs err ${err} > ${tol}`).toBeLessThanOrEqual(tol);
    tf.dispose([y, ref]);
  });
});
