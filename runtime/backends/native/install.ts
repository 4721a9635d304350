import * as tf from '@tensorflow/tfjs-core';
import { ops, setOp, type Ops } from '../../ops/index.js';
import { nativeAddon } from './addon.js';
import { nativeDepthwiseConv3d, nativeDepthwiseConvTranspose3d, nativeGelu, nativeGeluPointwise, nativeGroupNorm, nativeNormPointwise } from './ops.js';

/** Patching the op table (runtime/ops): the native ops run while `native` is the active backend. */

const NATIVE_OPS = new Set<unknown>();

type NativeOpName = 'depthwiseConv3d' | 'depthwiseConvTranspose3d' | 'gelu' | 'groupNorm' | 'geluPointwise' | 'normPointwise' | 'normGeluPointwise';

/** Wraps `impl` to run while `native` is the active backend, else the op it replaces. */
function whenNative<K extends NativeOpName>(name: K, impl: Ops[K]): void {
  if (NATIVE_OPS.has(ops[name])) return;
  const fallback = ops[name];
  const wrapped = ((...a: unknown[]) =>
    tf.getBackend() === 'native' ? (impl as (...b: unknown[]) => tf.Tensor)(...a) : (fallback as (...b: unknown[]) => tf.Tensor)(...a)) as Ops[K];
  NATIVE_OPS.add(wrapped);
  setOp(name, wrapped);
}

/** Puts the native depthwise convolutions, GELU, GroupNorm and the fused pointwise ops into `ops` (idempotent; other backends keep the previous ops). */
export function installNativeOps(): void {
  whenNative('depthwiseConv3d', nativeDepthwiseConv3d);
  whenNative('depthwiseConvTranspose3d', nativeDepthwiseConvTranspose3d);
  whenNative('gelu', nativeGelu);
  // An addon built from older sources (before `mnxc setup native` reran) lacks these kernels,
  // and its matmul ignores the bias: keep the JS ops then.
  if (typeof nativeAddon()?.groupNormStats !== 'function') return;
  whenNative('groupNorm', nativeGroupNorm);
  whenNative('geluPointwise', nativeGeluPointwise);
  whenNative('normPointwise', nativeNormPointwise);
  // The block's tail as the two native fused ops (native GroupNorm statistics and GELU passes).
  whenNative('normGeluPointwise', (x, groups, eps, gamma, beta, w2, b2, w3, b3) => tf.tidy(() => nativeGeluPointwise(nativeNormPointwise(x, groups, eps, gamma, beta, w2, b2), w3, b3)));
}

