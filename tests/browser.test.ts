import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import { browserGpu, launchBrowser, openPage, serveFolder, SKIP_BROWSER, type StaticServer } from './browser.js';

describe.skipIf(SKIP_BROWSER)('the browser test harness (tests/browser.ts)', () => {
  let dir: string;
  let server: StaticServer;
  let browser: Browser;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mnxc-browser-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title><script type="module" src="main.js"></script>');
    writeFileSync(join(dir, 'main.js'), "const r = await fetch('data.bin'); window.bytes = [...new Uint8Array(await r.arrayBuffer())]; console.error('logged');");
    writeFileSync(join(dir, 'data.bin'), new Uint8Array([1, 2, 250]));
    server = await serveFolder(dir);
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a folder to a page, collects its console errors and failed requests', async () => {
    const p = await openPage(browser, `${server.url}/`);
    expect(await p.page.evaluate(() => (globalThis as unknown as { bytes: number[] }).bytes)).toEqual([1, 2, 250]);
    await p.page.evaluate(() => fetch('missing.js'));
    expect(p.errors[0]).toBe('console: logged');
    expect(p.errors.some((e) => e.startsWith('HTTP 404:') && e.endsWith('/missing.js'))).toBe(true);
    expect((await fetch(`${server.url}/..%2F..%2Fetc%2Fpasswd`)).status).toBe(403);
    await p.close();
  });

  // WebGPU is reported, not required: Chromium grants a SwiftShader adapter here, but not every build does.
  it('offers WebGL2 with float32 render targets (SwiftShader without a GPU), and says whether WebGPU has an adapter', async () => {
    const p = await openPage(browser, `${server.url}/`);
    const gpu = await browserGpu(p.page);
    console.log(`browser GPU: ${JSON.stringify(gpu)}`);
    expect(gpu.webgl).toBe(true);
    expect(gpu.webglFloat).toBe(true);
    expect(typeof gpu.webgpu).toBe('boolean');
    await p.close();
  });
});
