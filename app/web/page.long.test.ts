import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { browserGpu, launchBrowser, openPage, SKIP_BROWSER } from '../../tests/browser.js';
import { dicePerLabel, segmentInPage } from '../../tests/web-page.js';
import { serveFolder, type StaticServer } from './serve.js';

/**
 * page.test.ts on every backend this Chromium offers (software WebGL2 and WebGPU through
 * SwiftShader here, wasm, cpu): `mnxc demo --quick`'s run exported, a test case segmented in the
 * page, the download against `mnxc predict` (wasm and tensorflow/auto in Node): Dice ≥ 0.99 per
 * label; times and sizes printed. MNXC_SCREENSHOT_DIR keeps a screenshot per backend.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-page-long-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function mnxc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) throw new Error(`mnxc ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
}

describe.skipIf(SKIP_BROWSER)('the exported page on every browser backend', () => {
  const demo = join(root, 'demo');
  const site = join(root, 'site');
  const image = join(demo, 'data', 'Dataset900_Phantom', 'imagesTs', 'phantom_500_0000.nii.gz');
  let server: StaticServer;
  let browser: Browser;
  let backends: string[];
  beforeAll(async () => {
    mnxc('demo', '--quick', '--out', demo);
    const exported = mnxc('export-web', join(demo, 'run'), '-o', site);
    console.log(exported.stderr.trim());
    mnxc('predict', '-i', image, '-o', join(root, 'pred'), '-m', join(demo, 'run'), '--backend', 'wasm');
    const node = mnxc('predict', '-i', image, '-o', join(root, 'pred-auto'), '-m', join(demo, 'run'));
    console.log(`mnxc predict in Node: ${node.stderr.trim().split('\n').filter((l) => /backend|predicted/.test(l)).join(' | ')}`);
    server = await serveFolder(site);
    browser = await launchBrowser();
    const probe = await openPage(browser, `${server.url}/site.json`);
    const gpu = await browserGpu(probe.page);
    await probe.close();
    backends = [...(gpu.webgpu ? ['webgpu'] : []), ...(gpu.webgl && gpu.webglFloat ? ['webgl'] : []), 'wasm', 'cpu'];
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('segments the case on each backend as mnxc predict does', async () => {
    const expected = new Uint8Array(gunzipSync(readFileSync(join(root, 'pred', 'phantom_500.nii.gz'))));
    for (const backend of backends) {
      const shots = process.env.MNXC_SCREENSHOT_DIR;
      const r = await segmentInPage(browser, server.url, backend, [image], shots ? join(shots, `page-${backend}.png`) : undefined);
      const dice = dicePerLabel(r.nifti, expected);
      const identical = Buffer.from(r.nifti).equals(Buffer.from(expected));
      console.log(`page on ${r.backend}: ${r.seconds.toFixed(2)} s (${r.passes} passes); Dice vs predict --backend wasm ${JSON.stringify(dice)}; byte-identical: ${identical}`);
      expect(r.backend).toBe(backend);
      expect(r.page.errors, backend).toEqual([]);
      for (const [label, d] of Object.entries(dice)) expect(d, `label ${label} on ${backend}`).toBeGreaterThanOrEqual(0.99);
      await r.page.close();
    }
  }, 1_200_000);
});
