import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserGpu, SKIP_BROWSER } from '../../tests/browser.js';
import { checkOps, describeParity, openParitySite, RANK5_KERNEL_CHECKS, type ParityCase, type ParitySite } from '../../tests/web-parity.js';

/**
 * The browser runtime in headless Chromium (software WebGL2 and WebGPU through SwiftShader here):
 * MedNeXt's up block (a depthwise transposed 3-D convolution, the pad, GroupNorm, GELU, 1×1×1
 * products, the residual) against the official PyTorch outputs on every backend the browser
 * offers (all three block kinds on wasm), and the kernels runtime/browser/rank5-kernels.ts
 * replaces against the cpu backend in the same page. Whole networks (MedNeXt, nnU-Net), the
 * other blocks on the GPU backends and each op by itself run in runtime/browser/parity.long.test.ts.
 */
const CASES: ParityCase[] = ['block_k3', 'down_k3', 'up_k3'].map((name) => ({ kind: 'mednext-reference', name }));
/** On the GPU backends (shader compilation is most of their time here), the block that uses every op of the three. */
const GPU_CASES = CASES.filter((c) => c.name === 'up_k3');

describe.skipIf(SKIP_BROWSER)('the browser runtime in Chromium: MedNeXt blocks within the fixtures\' tolerance', () => {
  let site: ParitySite;
  let backends: string[];
  beforeAll(async () => {
    site = await openParitySite(CASES);
    const gpu = await browserGpu(site.page.page);
    backends = ['webgl', ...(gpu.webgpu ? ['webgpu'] : []), 'wasm'];
    if (!gpu.webgpu) console.warn('NOTE: this Chromium grants no WebGPU adapter; webgpu parity not run');
  }, 120_000);
  afterAll(async () => site?.close());

  it('runs up_k3 on webgl and webgpu (where an adapter exists), block_k3, down_k3 and up_k3 on wasm', async () => {
    for (const backend of backends) {
      const results = await site.run(backend, backend === 'wasm' ? CASES : GPU_CASES);
      console.log(describeParity(results));
      for (const r of results) {
        expect(r.backend).toBe(backend);
        for (const o of r.outputs) expect(o.maxErr, `${r.case} ${o.name} on ${backend}`).toBeLessThanOrEqual(o.tolerance);
      }
    }
    expect(site.page.errors).toEqual([]);
  });

  it('the kernels replaced on rank-5 tensors agree with the cpu backend on webgl and webgpu', async () => {
    const errs = await checkOps(site, backends.filter((b) => b !== 'wasm'), RANK5_KERNEL_CHECKS);
    console.log(JSON.stringify(errs));
    for (const [k, e] of Object.entries(errs)) expect(e, k).toBe(0);
    expect(site.page.errors).toEqual([]);
  });
});

