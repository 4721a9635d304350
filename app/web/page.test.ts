import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { launchBrowser, SKIP_BROWSER } from '../../tests/browser.js';
import { dicePerLabel, segmentInPage } from '../../tests/web-page.js';
import { serveFolder, type StaticServer } from './serve.js';

/**
 * End to end in headless Chromium: `mnxc demo --quick`'s run (trained, fold 0) exported with
 * `mnxc export-web`, served by `mnxc serve`'s server, a test case put into the page's file input,
 * and the downloaded segmentation compared with `mnxc predict`'s for the same case and checkpoint
 * (the same wasm kernels: byte for byte). The screenshot of the page after segmentation is saved
 * (MNXC_SCREENSHOT=path keeps it). The GPU backends (software WebGL and WebGPU here) and their
 * times: page.long.test.ts.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-page-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function mnxc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) throw new Error(`mnxc ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
}

describe.skipIf(SKIP_BROWSER)('the exported page in Chromium reproduces mnxc predict', () => {
  const demo = join(root, 'demo');
  const site = join(root, 'site');
  const image = join(demo, 'data', 'Dataset900_Phantom', 'imagesTs', 'phantom_500_0000.nii.gz');
  let server: StaticServer;
  let browser: Browser;
  beforeAll(async () => {
    mnxc('demo', '--quick', '--out', demo);
    mnxc('export-web', join(demo, 'run'), '-o', site);
    mnxc('predict', '-i', image, '-o', join(root, 'pred'), '-m', join(demo, 'run'), '--backend', 'wasm');
    server = await serveFolder(site);
    browser = await launchBrowser();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('segments a dropped case on wasm: the download equals mnxc predict --backend wasm', async () => {
    const shot = process.env.MNXC_SCREENSHOT ?? join(root, 'page.png');
    const r = await segmentInPage(browser, server.url, 'wasm', [image], shot);
    const expected = new Uint8Array(gunzipSync(readFileSync(join(root, 'pred', 'phantom_500.nii.gz'))));
    const dice = dicePerLabel(r.nifti, expected);
    const identical = Buffer.from(r.nifti).equals(Buffer.from(expected));
    console.log(`page on ${r.backend}: ${r.seconds.toFixed(2)} s, ${r.windows} window(s), ${r.passes} passes; Dice per label ${JSON.stringify(dice)}; byte-identical: ${identical}`);
    expect(r.backend).toBe('wasm');
    expect(r.page.errors).toEqual([]);
    for (const [label, d] of Object.entries(dice)) expect(d, `label ${label}`).toBeGreaterThanOrEqual(0.99);
    expect(identical).toBe(true);
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    const legend = await r.page.page.$$eval('#legend li', (lis) => lis.map((li) => li.textContent));
    expect(legend.map((t) => t?.replace(/\s*[\d.]+ ml$/, ''))).toEqual(['1 liver', '2 kidney', '3 lesion']);
    // a file that is not NIfTI: the page says what is wrong with which file, and stays usable
    const bad = join(root, 'notes.nii.gz');
    writeFileSync(bad, 'not an image');
    const input = await r.page.page.$('#file');
    await (input as unknown as { uploadFile(f: string): Promise<void> }).uploadFile(bad);
    await r.page.page.waitForFunction('window.mnxc.error', { timeout: 60_000 });
    expect(await r.page.page.$eval('#message', (m) => m.textContent)).toBe('notes.nii.gz: named .gz but not gzip-compressed (no gzip signature)');
    await r.page.close();
  }, 300_000);
});
