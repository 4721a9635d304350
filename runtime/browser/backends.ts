import * as tf from '@tensorflow/tfjs-core';
import { installRank5Kernels } from './rank5-kernels.js';
import { sumVoxelsByReduction } from '../kernels/group-norm.js';

/**
 * The browser's backends and, in this one place, what each needs to compute the IR's ops within
 * the reference fixtures' tolerance (max |err| ≤ 2e-5 + 2e-5·max|ref|):
 *
 *   webgpu  WebGPU compute shaders, float32 storage buffers throughout. Needs an adapter.
 *   webgl   WebGL2 fragment shaders on float32 textures. Refused where the browser cannot
 *           render to float32 textures (TF.js would fall back to float16: ~1e-3 relative, far
 *           outside the tolerance); float16 textures are never forced.
 *   wasm    TF.js's WebAssembly kernels (SIMD, threads where the page is cross-origin isolated);
 *           the binaries are fetched from `wasmPaths`.
 *   cpu     TF.js's JavaScript kernels: always there, slowest.
 *
 * The ops: every IR op runs as TF.js primitives on every backend (runtime/ops, runtime/kernels).
 * On webgl and webgpu, TF.js's PadV2, StridedSlice and Reverse fail on rank-5 tensors; they are
 * replaced there by the same kernels on folded, lower-rank views (runtime/browser/rank5-kernels.ts).
 * The inference rewrite pipeline is chosen per forward pass by `MnxModel.forward` from the
 * kernels the active backend registered (`hasEpilogueKernels`): none of these four registers the
 * product-with-epilogue kernels, so they run `inference` (drop_cancelled_bias,
 * fuse_norm_gelu_pointwise, fuse_pointwise_prologue), whose fused ops are op chains here.
 * GroupNorm's sums over the voxels run in two stages (runtime/kernels/group-norm.ts: per plane,
 * then over depth), so no single float32 accumulation spans a whole volume; on webgpu, whose
 * products add a plane's terms one after another, they are TF.js reductions (`sumVoxelsByReduction`).
 */
export type WebBackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** The order `useWebBackend('auto')` tries them. */
export const WEB_BACKEND_ORDER: WebBackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface WebBackendSetup {
  /** Why the browser cannot run it, before loading anything (null: try). */
  precheck(): Promise<string | null>;
  /** Loads the module that registers the backend. */
  register(wasmPaths: string): Promise<void>;
  /**
   * Before the backend starts, whoever registered it (this module, or a page that imported the
   * backend itself): TF.js flags, and the kernels replaced on it.
   */
  prepare(): void;
  /** Why the started backend cannot hold the tolerance (null: it can). */
  check(): Promise<string | null>;
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
}

const none = async () => null;

const SETUPS: Record<WebBackendName, WebBackendSetup> = {
  webgpu: {
    async precheck() {
      const gpu = (globalThis as { navigator?: GpuNavigator }).navigator?.gpu;
      if (!gpu) return 'the browser has no WebGPU (navigator.gpu; it needs a secure context: https or localhost)';
      return (await gpu.requestAdapter()) ? null : 'the browser grants no WebGPU adapter';
    },
    async register() {
      await import('@tensorflow/tfjs-backend-webgpu');
    },
    prepare() {
      installRank5Kernels('webgpu');
      sumVoxelsByReduction('webgpu');
    },
    check: none,
  },
  webgl: {
    async precheck() {
      type Canvas = { getContext(k: string): unknown };
      const g = globalThis as { document?: { createElement(t: string): Canvas }; OffscreenCanvas?: new (w: number, h: number) => Canvas };
      const canvas = g.document ? g.document.createElement('canvas') : g.OffscreenCanvas ? new g.OffscreenCanvas(1, 1) : null;
      if (!canvas) return 'no canvas to draw WebGL on';
      return canvas.getContext('webgl2') ? null : 'the browser has no WebGL2';
    },
    async register() {
      await import('@tensorflow/tfjs-backend-webgl');
    },
    prepare() {
      tf.env().set('WEBGL_FORCE_F16_TEXTURES', false);
      installRank5Kernels('webgl');
    },
    async check() {
      if (!tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE')) return 'WebGL cannot render to float32 textures here (float16 would lose ~1e-3 relative)';
      return null;
    },
  },
  wasm: {
    precheck: async () => (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object' ? null : 'the browser has no WebAssembly'),
    async register(wasmPaths) {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmPaths);
    },
    prepare() {},
    check: none,
  },
  cpu: {
    precheck: none,
    async register() {
      await import('@tensorflow/tfjs-backend-cpu');
    },
    prepare() {},
    check: none,
  },
};

/** How to start `name` and what it needs (see the table above). */
export function webBackendSetup(name: WebBackendName): WebBackendSetup {
  const setup = SETUPS[name];
  if (!setup) throw new Error(`unknown browser backend '${name}' (one of ${WEB_BACKEND_ORDER.join(', ')})`);
  return setup;
}
