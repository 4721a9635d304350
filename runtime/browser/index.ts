/**
 * The runtime in a web page: the browser entry of the bundle (`npm run build:web` → dist/web/).
 * Everything reachable from here is free of Node built-ins (tests/walls.ts checks it, and the
 * bundler refuses one).
 *
 *   import { useWebBackend, loadModel, forward } from './mnxc-runtime.js';
 *   const backend = await useWebBackend();                    // 'webgpu' | 'webgl' | 'wasm' | 'cpu'
 *   const model = loadModel(await (await fetch('model.ir.json')).json(),
 *                           new Uint8Array(await (await fetch('model.weights.safetensors')).arrayBuffer()));
 *   const [probabilities] = await forward(model, { shape: [1, 1, 32, 32, 32], data });   // NCDHW in and out
 *
 * `tf` (tfjs-core) is exported so that code bundled with this entry shares its one engine.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { IRModel } from '../../ir/types.js';
import { buildModel, type BuildOptions, type MnxModel } from '../model/model.js';
import { verifiedIR } from '../model/forward.js';
import { loadWeights } from '../weights/state-dict.js';
import { parseSafetensors, type TensorMap } from '../io/safetensors-format.js';
import { BackendError } from '../errors.js';
import { WEB_BACKEND_ORDER, webBackendSetup, type WebBackendName } from './backends.js';

export * as tf from '@tensorflow/tfjs-core';
export type { IRModel } from '../../ir/types.js';
export { buildModel, MnxModel, type BuildOptions, type ForwardOptions } from '../model/model.js';
export { forward, verifiedIR, type HostTensor } from '../model/forward.js';
export { loadWeights, exportWeights, WeightsError } from '../weights/state-dict.js';
export { parseSafetensors, serializeSafetensors, SafetensorsError, type TensorMap, type SafeTensor } from '../io/safetensors-format.js';
export { channelsFirstToLast, channelsLastToFirst } from '../weights/layout.js';
export { ops } from '../ops/index.js';
export { MnxError, BackendError } from '../errors.js';
export { WEB_BACKEND_ORDER, type WebBackendName } from './backends.js';

export type WebBackendChoice = WebBackendName | 'auto';

export interface WebBackendOptions {
  /**
   * URL of the folder holding TF.js's wasm binaries (`tfjs-backend-wasm*.wasm`), ending in `/`.
   * Default: the folder this module was loaded from (the build copies them next to the bundle).
   */
  wasmPaths?: string;
}

/** Why each backend tried by the last `useWebBackend` was passed over (for the page to show). */
export const backendNotes: string[] = [];

/**
 * Makes `choice` the active TF.js backend and returns the one in use. `auto` tries WebGPU (where
 * the browser grants an adapter), WebGL (WebGL2 with float32 render targets: float16 textures
 * cannot hold the fixtures' tolerance), then wasm, then cpu. A named backend that cannot start
 * is an error with its reason. Each backend's numerics are set in runtime/browser/backends.ts.
 */
export async function useWebBackend(choice: WebBackendChoice = 'auto', options: WebBackendOptions = {}): Promise<WebBackendName> {
  const order = choice === 'auto' ? WEB_BACKEND_ORDER : [choice];
  backendNotes.length = 0;
  for (const name of order) {
    const why = await startBackend(name, options);
    if (why === null) return name;
    backendNotes.push(`${name}: ${why}`);
  }
  throw new BackendError(`backend ${choice} is not available in this browser (${backendNotes.join('; ')})`);
}

async function startBackend(name: WebBackendName, options: WebBackendOptions): Promise<string | null> {
  try {
    const setup = webBackendSetup(name);
    const why = await setup.precheck();
    if (why) return why;
    if (!tf.findBackendFactory(name)) await setup.register(options.wasmPaths ?? defaultWasmPaths());
    // Also when the page registered or started the backend itself (it is idempotent).
    setup.prepare();
    if (tf.getBackend() !== name) {
      if (!(await tf.setBackend(name))) return 'failed to initialise';
      await tf.ready();
    }
    const check = await setup.check();
    if (check) return check;
    // One op end to end: a backend that initialises but cannot compute is no backend.
    const y = tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)));
    const v = (await y.data())[0];
    y.dispose();
    return v === 3 ? null : `computes 1 + 2 = ${v}`;
  } catch (e) {
    return (e as Error).message.split('\n')[0] ?? String(e);
  }
}

function defaultWasmPaths(): string {
  return new URL('./', import.meta.url).href;
}

/** A safetensors file's bytes (as fetched) → tensors; `what` names it in errors. */
export function readWeights(bytes: Uint8Array | ArrayBuffer, what = 'weights'): TensorMap {
  return parseSafetensors(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), what).tensors;
}

/**
 * Builds the network of `ir` (a parsed `model.ir.json`, verified here, or its text) and loads
 * `weights` (a `*.weights.safetensors` file's bytes, PyTorch names and layouts, or tensors
 * already read) into it, on the active backend.
 */
export function loadModel(ir: IRModel | unknown | string, weights: Uint8Array | ArrayBuffer | TensorMap, options: BuildOptions & { what?: string } = {}): MnxModel {
  const what = options.what ?? 'model';
  const model = buildModel(verifiedIR(typeof ir === 'string' ? JSON.parse(ir) : ir, `${what}.ir.json`), options);
  try {
    loadWeights(model, weights instanceof Map ? weights : readWeights(weights, `${what}.weights.safetensors`), `${what}.weights.safetensors`);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
