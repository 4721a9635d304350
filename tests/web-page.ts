/**
 * The page of an exported site in headless Chromium (tests/browser.ts), driven as a person would:
 * a NIfTI file put into the page's file input, the segmentation awaited, the download button
 * clicked and the downloaded file read back. For app/web/page.test.ts and its long variant.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Browser } from 'puppeteer-core';
import { decodeNifti } from '../runtime/data/nifti/decode.js';
import { openPage, type OpenedPage } from './browser.js';

export interface PageResult {
  backend: string;
  seconds: number;
  counts: Record<number, number>;
  windows: number;
  passes: number;
  /** The downloaded .nii.gz, decompressed. */
  nifti: Uint8Array;
  page: OpenedPage;
}

/** Opens `siteUrl` on `backend`, gives it `files`, waits for the segmentation and downloads it. */
export async function segmentInPage(browser: Browser, siteUrl: string, backend: string, files: string[], screenshot?: string): Promise<PageResult> {
  const page = await openPage(browser, `${siteUrl}/?backend=${backend}`);
  const p = page.page;
  const downloads = mkdtempSync(join(tmpdir(), 'mnxc-download-'));
  try {
    const cdp = await p.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await p.waitForFunction('window.mnxc && (window.mnxc.ready || window.mnxc.error)', { timeout: 120_000 });
    const ready = (await p.evaluate('window.mnxc')) as { ready: boolean; error?: string };
    if (!ready.ready) throw new Error(`the page did not start on ${backend}: ${ready.error}`);
    const input = await p.$('#file');
    await (input as unknown as { uploadFile(...f: string[]): Promise<void> }).uploadFile(...files);
    await p.waitForFunction('window.mnxc.result || window.mnxc.error', { timeout: 600_000, polling: 500 });
    const state = (await p.evaluate('window.mnxc')) as { result?: Omit<PageResult, 'nifti' | 'page'> & { file: string }; error?: string };
    if (!state.result) throw new Error(`the page failed on ${backend}: ${state.error}`);
    if (screenshot) await p.screenshot({ path: screenshot as `${string}.png` });
    await p.click('#download');
    const file = join(downloads, state.result.file);
    for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(file)) throw new Error(`no download ${state.result.file} (folder holds: ${readdirSync(downloads).join(', ') || 'nothing'})`);
    return { ...state.result, nifti: new Uint8Array(gunzipSync(readFileSync(file))), page };
  } finally {
    rmSync(downloads, { recursive: true, force: true });
  }
}

/** Dice of each label value present in either map (1 where both are empty is not listed). */
export function dicePerLabel(a: Uint8Array, b: Uint8Array): Record<number, number> {
  const x = decodeNifti(a, 'page').data;
  const y = decodeNifti(b, 'predict').data;
  if (x.length !== y.length) throw new Error(`label maps of ${x.length} and ${y.length} voxels`);
  const values = new Set<number>();
  for (let i = 0; i < x.length; i++) {
    if (x[i]) values.add(x[i]!);
    if (y[i]) values.add(y[i]!);
  }
  const out: Record<number, number> = {};
  for (const v of [...values].sort((p, q) => p - q)) {
    let both = 0, nx = 0, ny = 0;
    for (let i = 0; i < x.length; i++) {
      const px = x[i] === v, py = y[i] === v;
      if (px) nx++;
      if (py) ny++;
      if (px && py) both++;
    }
    out[v] = (2 * both) / (nx + ny);
  }
  return out;
}
