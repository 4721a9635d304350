import * as tf from '@tensorflow/tfjs-core';
import { MATMUL_BIAS_ADD, MATMUL_BIAS_GELU } from '../../kernels/pointwise.js';
import type { NativeAddon } from './addon.js';
import { isF32, output, values, type Args, type Info } from './cpu-data.js';
import { nativeKernels } from './cpu-kernels.js';
import { ownKernels } from './own-kernels.js';
import { PooledCpuBackend } from './pooled-backend.js';

/**
 * Registers the `native` backend: a `MathBackendCPU` recycling its outputs (pooled-backend.ts) under another name with every cpu kernel,
 * the native ones in front (falling back to the cpu kernel), mnxc's own kernels, and the
 * products with an epilogue when the addon has them.
 */
export function registerNativeBackend(n: NativeAddon): void {
  if (tf.findBackendFactory('native')) return;
  // Priority 0: never the default by accident; `useBackend('native')` (or auto) chooses it.
  tf.registerBackend('native', () => new PooledCpuBackend(), 0);
  const fast = nativeKernels(n);
  for (const config of tf.getKernelsForBackend('cpu')) {
    const f = fast.get(config.kernelName);
    const cpuFunc = config.kernelFunc as unknown as (args: Args) => Info | Info[];
    tf.registerKernel({
      ...config,
      backendName: 'native',
      kernelFunc: (f ? (args: Args) => f(args) ?? cpuFunc(args) : cpuFunc) as unknown as tf.KernelFunc,
    });
  }
  for (const [name, f] of Object.entries(ownKernels(n))) {
    tf.registerKernel({ kernelName: name, backendName: 'native', kernelFunc: f as unknown as tf.KernelFunc });
  }
  // The products with an epilogue (runtime/kernels/pointwise.ts): with them the model's
  // inference plan runs here too. An addon built before they were added has no entry point.
  const epilogue = n.matmulEpilogue?.bind(n);
  if (epilogue) {
    const product = (kind: 1 | 2) => ({ inputs, backend }: Args) => {
      const { a, b, bias, addend } = inputs as { a: Info; b: Info; bias: Info; addend?: Info };
      const [m, k] = a.shape as [number, number];
      const nn = b.shape[1]!;
      if (a.shape.length !== 2 || b.shape.length !== 2 || b.shape[0] !== k || bias.shape.length !== 1 || bias.shape[0] !== nn) {
        throw new Error(`matmul epilogue: shapes [${a.shape}] × [${b.shape}] + [${bias.shape}] do not fit`);
      }
      if (!isF32(backend, a, b, bias, ...(addend ? [addend] : []))) throw new Error('matmul epilogue: float32 inputs only');
      const out = output(backend, m * nn, k === 0); // every element unless K = 0 (see nativeMatMul)
      epilogue(values(backend, a), values(backend, b), out, m, k, nn, values(backend, bias), kind, addend ? values(backend, addend) : null);
      return backend.makeTensorInfo([m, nn], 'float32', out);
    };
    tf.registerKernel({ kernelName: MATMUL_BIAS_GELU, backendName: 'native', kernelFunc: product(1) as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: MATMUL_BIAS_ADD, backendName: 'native', kernelFunc: product(2) as unknown as tf.KernelFunc });
  }
}

