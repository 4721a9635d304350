import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

/**
 * The one module that reaches into TF.js's internals (the wall check in tests/walls.test.ts keeps
 * every other file out of them). Each item is something TF.js does not export as public API:
 *
 *   gradientDepth(), recordTape(), engineGradients()
 *                       the engine's gradient tape (`state.activeTape`, `gradientDepth`,
 *                       `startTape`, `endTape`, `scopedRun`, `gradients`): runtime/autodiff/backprop.ts
 *   cpuValues()         the array a cpu-backend tensor is stored in (`backend.data.get`): the
 *                       native kernels work on it in place (runtime/backends/native/)
 *   quietCpuBanner()    the cpu backend's one-time "use tfjs-node" banner flag (`firstUse`)
 *
 * They were written against tfjs-core TFJS_CORE_CHECKED; loading this module with another
 * major.minor version fails at once, naming both, instead of computing wrong gradients later.
 * After an upgrade: run the backprop, native and model tests, then update TFJS_CORE_CHECKED.
 */
export const TFJS_CORE_CHECKED = '4.22.0';

const majorMinor = (v: string) => v.split('.').slice(0, 2).join('.');
if (majorMinor(tf.version_core) !== majorMinor(TFJS_CORE_CHECKED)) {
  throw new Error(
    `mnxc reaches into TF.js internals checked against @tensorflow/tfjs-core ${TFJS_CORE_CHECKED}, but ${tf.version_core} is installed ` +
      `(see runtime/tfjs-internals.ts; run the backprop, native and model tests, then update TFJS_CORE_CHECKED)`,
  );
}

/** A node of the engine's gradient tape. */
export interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): { value: tf.Tensor; grads: tf.Tensor[] };
}

function engine(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

/** How many gradient recordings are open (inside tf.grads, variableGrads, …): 0 when none. */
export function gradientDepth(): number {
  return engine().state.gradientDepth;
}

/**
 * Runs `f` (in a tidy scope named `forward`) while recording a fresh tape, and returns its value
 * with that tape. A tape already set (a walk nested in another's backward pass, or TF.js's own)
 * is put back afterwards.
 */
export function recordTape<T extends tf.TensorContainer>(f: () => T): { value: T; tape: TapeNode[] } {
  const e = engine();
  const outerTape = e.state.activeTape;
  const value = e.scopedRun(
    () => e.startTape(),
    () => e.endTape(),
    () => e.tidy('forward', f),
  );
  const tape = e.state.activeTape ?? [];
  e.state.activeTape = outerTape;
  return { value, tape };
}

/** TF.js's own gradient walk (`engine.gradients` with allowNoGradients). */
export function engineGradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor): { value: tf.Tensor; grads: Array<tf.Tensor | undefined> } {
  return engine().gradients(f, xs, dy, true);
}

/** The array a cpu-backend (or native-backend) tensor is stored in: the backend's own, not a copy. */
export function cpuValues(backend: MathBackendCPU, t: tf.TensorInfo): tf.backend_util.BackendValues | undefined {
  return backend.data.get(t.dataId)?.values;
}

/** Skips the banner the cpu backend prints on its first tensor in Node (mnxc chose it on purpose). */
export function quietCpuBanner(): void {
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}
