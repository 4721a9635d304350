import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { cpuValues } from '../../tfjs-internals.js';
import { PooledCpuBackend } from './pooled-backend.js';

/**
 * What the native kernels see of TF.js's cpu backend: its kernel arguments and the
 * Float32Arrays it stores tensors in (the addon works on those in place, nothing is copied).
 */


export type Backend = MathBackendCPU;
export type Info = tf.TensorInfo;
export interface Args {
  inputs: Record<string, Info>;
  backend: Backend;
  attrs?: Record<string, unknown>;
}
/** A native kernel: its result, or null to let the cpu kernel handle this call. */
export type NativeKernel = (args: Args) => Info | Info[] | null;

/** A tensor's Float32Array (the cpu backend's own, not a copy); a float32 tensor held in another array is converted. */
export const values = (b: Backend, t: Info): Float32Array => {
  const v = cpuValues(b, t)!;
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
};
export const size = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);
/**
 * Whether every input is float32 and stored as a Float32Array (the cpu backend keeps some
 * float32 tensors in other arrays, e.g. a Cast's output; those go to the cpu kernel).
 */
export const isF32 = (b: Backend, ...ts: Info[]) => ts.every((t) => t.dtype === 'float32' && cpuValues(b, t) instanceof Float32Array);

/**
 * A kernel's output array of n values (PooledCpuBackend.alloc): `zeroed` for a kernel that
 * leaves some elements unwritten or accumulates into its output; false only for one that writes
 * every element (a recycled array holds old values).
 */
export const output = (b: Backend, n: number, zeroed: boolean): Float32Array =>
  b instanceof PooledCpuBackend ? b.alloc(n, { zeroed }) : new Float32Array(n);
