import * as tf from '@tensorflow/tfjs-core';
import type { IRParam } from '../../ir/types.js';
import type { SafeTensor, TensorMap } from '../io/safetensors-format.js';
import type { MnxModel } from '../model/model.js';
import { runtimeShape, toPytorch, toRuntime } from './layout.js';
import { WeightsError } from '../errors.js';

/**
 * Model parameters ⇄ a PyTorch `state_dict` (safetensors TensorMap): official names,
 * PyTorch layouts, float32.
 */

/** MedNeXt's unused `dummy_tensor`: [1], value 1. */
export const DUMMY_NAME = 'dummy_tensor';

export { WeightsError };

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function toFloat32(t: SafeTensor, integers = false): Float32Array | null {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  // Integer buffers (relative_position_index, int64 in PyTorch) are held as exact small floats.
  if (integers && t.data instanceof BigInt64Array) return Float32Array.from(t.data, (v) => Number(v));
  if (integers && t.data instanceof Int32Array) return Float32Array.from(t.data);
  return null;
}

/**
 * Checks `tensors` against the model's parameters and, only if everything fits, assigns them.
 * Unknown, missing and mis-shaped tensors (and non-float dtypes) are all reported at once by
 * name, with the expected and the found shape. `dummy_tensor` may be present or absent.
 * `what` names the source (a file path) in the error.
 */
export function loadWeights(model: MnxModel, tensors: TensorMap, what = 'weights'): void {
  const params = new Map<string, IRParam>(model.ir.parameters.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const [name, t] of tensors) {
    const p = params.get(name);
    if (!p) {
      if (name !== DUMMY_NAME) problems.push(`unexpected tensor ${name} ${shapeStr(t.shape)}: the model has no such parameter`);
      continue;
    }
    if (shapeStr(t.shape) !== shapeStr(p.shape)) problems.push(`${name}: shape ${shapeStr(t.shape)} in the file, the model expects ${shapeStr(p.shape)}`);
    else if (!toFloat32(t, p.role === 'buffer')) problems.push(`${name}: dtype ${t.dtype}, expected ${p.role === 'buffer' ? 'I64 (or I32, F32)' : 'F32 (or F64)'}`);
  }
  for (const p of model.ir.parameters) {
    if (!tensors.has(p.name) && p.role !== 'dummy') problems.push(`missing tensor ${p.name}: the model expects ${shapeStr(p.shape)}`);
  }
  if (problems.length > 0) throw new WeightsError(problems, what);
  for (const p of model.ir.parameters) {
    const t = tensors.get(p.name);
    if (!t) continue;
    const layout = model.layouts.get(p.name)!;
    const host = toRuntime(layout, { shape: p.shape, data: toFloat32(t, p.role === 'buffer')! });
    const value = tf.tensor(host.data, runtimeShape(layout, p.shape), 'float32');
    model.variables.get(p.name)!.assign(value);
    value.dispose();
  }
}

/** Every IR parameter in PyTorch layout (float32), `dummy_tensor` included when the IR has it. */
export function exportWeights(model: MnxModel): TensorMap {
  const out: TensorMap = new Map();
  for (const p of model.ir.parameters) {
    const v = model.variables.get(p.name)!;
    const data = v.dataSync() as Float32Array;
    const host = toPytorch(model.layouts.get(p.name)!, { shape: v.shape, data }, p.shape);
    // Integer buffers go out as PyTorch has them (int64), so strict load_state_dict takes them.
    if (p.role === 'buffer') out.set(p.name, { dtype: 'I64', shape: host.shape, data: BigInt64Array.from(host.data, (x) => BigInt(Math.round(x))) });
    else out.set(p.name, { dtype: 'F32', shape: host.shape, data: host.data });
  }
  return out;
}
