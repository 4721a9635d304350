import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserGpu, SKIP_BROWSER } from '../../tests/browser.js';
import { checkOps, describeParity, openParitySite, OP_CHECKS, RANK5_KERNEL_CHECKS, type ParityCase, type ParitySite } from '../../tests/web-parity.js';

/**
 * The long half of runtime/browser/parity.test.ts: every MedNeXt and nnU-Net reference case
 * (whole networks included) in headless Chromium on webgl, webgpu (where the browser grants an
 * adapter) and wasm, two forward passes each (the first compiles the shaders), and each op
 * by itself against the cpu backend in the same page.
 */
const CASES: ParityCase[] = [
  ...['block_k3', 'block_k5', 'down_k3', 'up_k3', 'tiny_k3_ds', 'tiny_k5_nods', 'tiny_k3_upkern_to_k5'].map((name) => ({ kind: 'mednext-reference' as const, name })),
  ...['plain_unet_iso', 'plain_unet_aniso'].map((name) => ({ kind: 'nnunet-reference' as const, name })),
];

describe.skipIf(SKIP_BROWSER)('the browser runtime in Chromium: every MedNeXt and nnU-Net fixture', () => {
  let site: ParitySite;
  let backends: string[];
  beforeAll(async () => {
    site = await openParitySite(CASES);
    const gpu = await browserGpu(site.page.page);
    console.log(`browser GPU: ${JSON.stringify(gpu)}`);
    backends = ['webgl', ...(gpu.webgpu ? ['webgpu'] : []), 'wasm'];
  }, 120_000);
  afterAll(async () => site?.close());

  it('each op by itself agrees with the cpu backend', async () => {
    const errs = await checkOps(site, backends, [...RANK5_KERNEL_CHECKS, ...OP_CHECKS]);
    console.log(JSON.stringify(errs));
    for (const [k, e] of Object.entries(errs)) expect(e, k).toBeLessThanOrEqual(2e-5);
  });

  for (const backend of ['webgl', 'webgpu', 'wasm']) {
    it(`${backend}: every case within its fixture's tolerance`, async (ctx) => {
      if (!backends.includes(backend)) {
        console.warn(`NOTE: no WebGPU adapter in this Chromium; ${backend} parity not run`);
        ctx.skip();
      }
      const results = await site.run(backend, CASES, 2);
      console.log(describeParity(results));
      for (const r of results) for (const o of r.outputs) expect(o.maxErr, `${r.case} ${o.name} on ${backend}`).toBeLessThanOrEqual(o.tolerance);
      expect(site.page.errors).toEqual([]);
    }, 900_000);
  }
});
