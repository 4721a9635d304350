import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from './errors.js';
import { quietCpuBanner } from './tfjs-internals.js';

/**
 * Backend selection. `auto` prefers the TensorFlow C library (tfjs-node-gpu, then tfjs-node)
 * when it loads, then `native` (the cpu backend with our C++ kernels, `mnxc setup native`),
 * then `wasm`, then the pure-JS `cpu` backend.
 */
export type BackendName = 'tensorflow' | 'native' | 'wasm' | 'cpu';
export type BackendChoice = BackendName | 'auto';

/** Every backend, in the order `auto` tries them. */
export const BACKEND_ORDER: BackendName[] = ['tensorflow', 'native', 'wasm', 'cpu'];
export const BACKEND_CHOICES: BackendChoice[] = ['auto', ...BACKEND_ORDER];

export interface BackendProbe {
  name: BackendName;
  available: boolean;
  detail: string;
}

/** Loads the module that registers a backend; returns why not when it cannot. */
async function register(name: BackendName): Promise<string | null> {
  try {
    if (name === 'cpu') {
      await import('@tensorflow/tfjs-backend-cpu');
    } else if (name === 'wasm') {
      await import('@tensorflow/tfjs-backend-wasm');
    } else if (name === 'native') {
      const { loadNativeBackend } = await import('./backends/native.js');
      const why = await loadNativeBackend();
      if (why) return why;
    } else {
      const { loadTensorflowBinding } = await import('./backends/tensorflow.js');
      const why = await loadTensorflowBinding();
      if (why) return why;
    }
    return tf.findBackendFactory(name) ? null : `no ${name} backend registered`;
  } catch (e) {
    return (e as Error).message.split('\n')[0] ?? String(e);
  }
}

/**
 * The cpu backend prints a banner recommending tfjs-node on its first tensor in Node; mnxc
 * chose the backend deliberately and `mnxc doctor` explains the choice, so skip it.
 */
function quietBanner(name: BackendName): void {
  if (name === 'cpu' || name === 'native') quietCpuBanner();
}

/**
 * Makes `choice` the active TF.js backend and returns the name actually in use.
 * Throws with the reason when an explicitly requested backend cannot load.
 */
export async function useBackend(choice: BackendChoice = 'auto'): Promise<BackendName> {
  const order: BackendName[] = choice === 'auto' ? BACKEND_ORDER : [choice];
  const reasons: string[] = [];
  for (const name of order) {
    if (tf.getBackend() === name) {
      await installOps(name);
      return name;
    }
    const why = await register(name);
    if (why === null && (await tf.setBackend(name))) {
      await tf.ready();
      quietBanner(name);
      await installOps(name);
      return name;
    }
    reasons.push(`${name}: ${why ?? 'failed to initialise'}`);
  }
  throw new BackendError(`backend ${choice} is not available (${reasons.join('; ')})`);
}

/** The native backend's own ops (depthwise convolutions, GELU); they defer to the others on other backends. */
async function installOps(name: BackendName): Promise<void> {
  if (name === 'native') (await import('./backends/native.js')).installNativeOps();
}

/** Backends with every gradient kernel MedNeXt's training needs (wasm lacks the depthwise ones). */
export const TRAINING_BACKENDS: BackendName[] = ['tensorflow', 'native', 'cpu'];

/** `useBackend` for training: `auto` tries tensorflow, native, then cpu; wasm is refused. */
export async function useTrainingBackend(choice: BackendChoice = 'auto'): Promise<BackendName> {
  if (choice === 'wasm') throw new BackendError('the wasm backend cannot train (TF.js wasm has no gradients for depthwise convolutions); use tensorflow, native or cpu');
  if (choice !== 'auto') return useBackend(choice);
  const reasons: string[] = [];
  for (const name of TRAINING_BACKENDS) {
    try {
      return await useBackend(name);
    } catch (e) {
      reasons.push((e as Error).message);
    }
  }
  throw new BackendError(`no backend can train here (${reasons.join('; ')})`);
}

/** Which backends load here and why the others do not (for `mnxc doctor`); each is tried on one op. */
export async function probeBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  const previous = tf.getBackend();
  for (const name of BACKEND_ORDER) {
    let why = await register(name);
    if (why === null) why = await tryOneOp(name);
    out.push({ name, available: why === null, detail: why ?? (await describeBackend(name)) });
  }
  if (previous) await tf.setBackend(previous);
  return out;
}

async function tryOneOp(name: BackendName): Promise<string | null> {
  try {
    if (!(await tf.setBackend(name))) return 'failed to initialise';
    await tf.ready();
    quietBanner(name);
    const y = tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)).dataSync()[0]);
    return y === 3 ? null : `computes 1 + 2 = ${y}`;
  } catch (e) {
    return (e as Error).message.split('\n')[0] ?? String(e);
  }
}

async function describeBackend(name: BackendName): Promise<string> {
  if (name === 'tensorflow') return (await import('./backends/tensorflow.js')).describeTensorflowBinding();
  if (name === 'cpu') return 'pure-JavaScript kernels';
  if (name === 'native') return (await import('./backends/native.js')).describeNativeBackend();
  const flag = async (f: string) => ((await tf.env().getAsync(f)) ? 'yes' : 'no');
  return `WebAssembly kernels (SIMD ${await flag('WASM_HAS_SIMD_SUPPORT')}, threads ${await flag('WASM_HAS_MULTITHREAD_SUPPORT')})`;
}
