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
import type { IRModel } from '../ir/types.js';
import { verifyIR } from '../ir/verify.js';
import { verifiedIR } from './model/forward.js';

export type { IRModel, IRNode, IRParam, ActShape } from '../ir/types.js';
export { verifyIR };
export { bufferValues } from '../ir/buffers.js';
/** TF.js itself (tfjs-core), as the runtime and generated models use it. */
export * as tf from '@tensorflow/tfjs-core';
export { ops, setOp, resetOps, type Ops } from './ops/index.js';
export { useBackend, probeBackends, BACKEND_CHOICES, type BackendName, type BackendChoice } from './backend.js';
export { buildModel, MnxModel, type BuildOptions, type ForwardOptions } from './model/model.js';
export { forward, verifiedIR, type HostTensor } from './model/forward.js';
export { loadWeights, exportWeights, WeightsError } from './weights/state-dict.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, SafetensorsError, type TensorMap, type SafeTensor } from './io/safetensors.js';
export { predictSlidingWindow, type WindowPredictor, type Volume } from './infer/sliding-window.js';
export { modelWindowPredictor, predictMirrored } from './infer/tta.js';
export { predictCases, findInputCases, type PredictOptions, type PredictRun, type CaseResult, type InputCase } from './infer/index.js';

/** Reads a compiled IR (`model.ir.json`) and verifies it; throws an Error listing the problems. */
export function readIR(path: string): IRModel {
  return verifiedIR(JSON.parse(readFileSync(path, 'utf8')), path);
}
