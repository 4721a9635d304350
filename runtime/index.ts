/**
 * `mnxc/runtime`: the public runtime API — run a compiled network (the IR) on TensorFlow.js.
 *
 *   const ir = readIR('build/model.ir.json');            // verified against the IR schema
 *   await useBackend('auto');                             // tensorflow, native, wasm or cpu
 *   const model = buildModel(ir);                         // fresh weights (PyTorch's init)
 *   loadWeights(model, readSafetensors('W.safetensors')); // official state_dict names and layouts
 *   const outs = await forward(model, { shape: [1, 1, 32, 32, 32], data });   // NCDHW in, NCDHW out
 *
 * Generated models (`mnxc compile` → model.gen.ts) import `ops` and the IR types from here.
 * Sliding-window prediction: `predictSlidingWindow` with `modelWindowPredictor`, or
 * `predictCases` for NIfTI files with a run folder's plans.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { IRModel } from '../ir/types.js';
import { verifyIR } from '../ir/verify.js';
import type { MnxModel } from './model/model.js';
import { channelsFirstToLast, channelsLastToFirst } from './weights/layout.js';

export type { IRModel, IRNode, IRParam, ActShape } from '../ir/types.js';
export { verifyIR };
export { bufferValues } from '../ir/buffers.js';
/** TF.js itself (tfjs-core), as the runtime and generated models use it. */
export * as tf from '@tensorflow/tfjs-core';
export { ops, setOp, resetOps, type Ops } from './ops/index.js';
export { useBackend, probeBackends, BACKEND_CHOICES, type BackendName, type BackendChoice } from './backend.js';
export { buildModel, MnxModel, type BuildOptions, type ForwardOptions } from './model/model.js';
export { loadWeights, exportWeights, WeightsError } from './weights/state-dict.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, SafetensorsError, type TensorMap, type SafeTensor } from './io/safetensors.js';
export { predictSlidingWindow, type WindowPredictor, type Volume } from './infer/sliding-window.js';
export { modelWindowPredictor, predictMirrored } from './infer/tta.js';
export { predictCases, findInputCases, type PredictOptions, type PredictRun, type CaseResult, type InputCase } from './infer/index.js';

/** Reads a compiled IR (`model.ir.json`) and verifies it; throws an Error listing the problems. */
export function readIR(path: string): IRModel {
  const json: unknown = JSON.parse(readFileSync(path, 'utf8'));
  const problems = verifyIR(json);
  if (problems.length > 0) throw new Error(`${path}: not a valid model IR:\n  ${problems.slice(0, 10).join('\n  ')}`);
  return json as IRModel;
}

/** A host tensor in PyTorch's layout: [N, C, D, H, W] (or [N, C, H, W] for 2-D networks). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Runs the network on an NC(D)HW input; returns every head, full resolution first, in NC(D)HW. */
export async function forward(model: MnxModel, input: HostTensor): Promise<HostTensor[]> {
  const last = channelsFirstToLast(input);
  const x = tf.tensor(last.data, last.shape, 'float32');
  try {
    const outs = model.forward(x);
    try {
      const result: HostTensor[] = [];
      for (const o of outs) result.push(channelsLastToFirst({ shape: o.shape, data: (await o.data()) as Float32Array }));
      return result;
    } finally {
      tf.dispose(outs);
    }
  } finally {
    x.dispose();
  }
}
