import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { useBackend } from '../../runtime/backend.js';
import { writeTestCase } from '../../runtime/data/dataset/index.js';
import { readNifti } from '../../runtime/data/nifti/index.js';
import { Segmenter, type SiteManifest } from '../../runtime/browser/segment.js';
import { writeTestRunFolder } from '../testing.js';
import { serveFolder } from './serve.js';
import { exportWeb } from './export-web.js';

/**
 * mnxc export-web's site, and the page's pipeline (runtime/browser/segment.ts) run in Node on the
 * site's files: the label map equals mnxc predict's byte for byte (same code, same backend: wasm). The
 * page itself in Chromium: tests/web-page.test.ts.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-export-web-'));
const runDir = join(root, 'run');
const imagesDir = join(root, 'ds', 'imagesTs');
afterAll(() => rmSync(root, { recursive: true, force: true }));

function mnxc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'mnxc.js'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A sphere in a tilted, anisotropic volume with a zero border (crop, resampling, several windows). */
function writeCase(): void {
  const [X, Y, Z] = [22, 18, 7];
  const a = new Float32Array(X * Y * Z);
  for (let k = 0; k < Z; k++)
    for (let j = 2; j < Y - 2; j++)
      for (let i = 2; i < X - 2; i++) {
        const d = Math.hypot(i - X / 2, j - Y / 2, (k - Z / 2) * 3);
        a[i + X * (j + Y * k)] = 40 + 25 * Math.sin(i * 0.7 + k) + (d < 6 ? 120 : 0);
      }
  const [c, s] = [Math.cos(0.3), Math.sin(0.3)];
  const affine = [[0.9 * c, -0.9 * s, 0, -20], [0.9 * s, 0.9 * c, 0, 10], [0, 0, 3, 5], [0, 0, 0, 1]];
  writeTestCase(join(root, 'ds'), { id: 'ball', shape: [X, Y, Z], channels: [a], label: null, affine }, 'Ts');
}

/** `fetch` of the site's files from disk (the page fetches the same files over HTTP). */
const fromDisk = async (path: string, onBytes?: (n: number) => void) => {
  const bytes = new Uint8Array(readFileSync(path));
  onBytes?.(bytes.byteLength);
  return bytes;
};

beforeAll(async () => {
  writeTestRunFolder(runDir, {
    spec: join(ROOT, 'examples', 'tiny.mnx'),
    set: ['n_classes=3'],
    channels: ['MR'],
    labels: { '0': 'background', '1': 'ball', '2': 'shell' },
    patch: [16, 16, 16],
    targetSpacing: [1.5, 1, 1],
    folds: { '0': 3, '1': 4 },
  });
  mkdirSync(imagesDir, { recursive: true });
  writeCase();
  writeFileSync(join(runDir, 'postprocessing.json'), JSON.stringify({ format: 'mnxc-postprocessing', for_which_classes: [1] }));
  await useBackend('wasm');
}, 60_000);

describe('mnxc export-web', () => {
  const site = join(root, 'site');

  it('writes the site: manifest, IR, plans, one weights file per fold, page, bundle, wasm', () => {
    const r = mnxc('export-web', runDir, '-o', site, '--folds', '0,1');
    expect(r.stderr).toMatch(/wrote .*site: \d+ files, [\d.]+ MB \(weights [\d.]+ MB, fold\(s\) 0,1\); serve it with: mnxc serve/);
    expect(r.code).toBe(0);
    const files = readdirSync(site);
    for (const f of ['index.html', 'site.json', 'model.ir.json', 'plans.json', 'mnxc-page.js', 'mnxc-runtime.js', 'tfjs-backend-wasm-simd.wasm']) expect(files).toContain(f);
    expect(readdirSync(join(site, 'weights')).sort()).toEqual(['fold_0.safetensors', 'fold_1.safetensors']);
    expect(readFileSync(join(site, 'weights', 'fold_1.safetensors')).equals(readFileSync(join(runDir, 'fold_1', 'checkpoint_final.weights.safetensors')))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(site, 'site.json'), 'utf8')) as SiteManifest;
    expect(manifest.labels.map((l) => [l.value, l.name])).toEqual([[0, 'background'], [1, 'ball'], [2, 'shell']]);
    expect(new Set(manifest.labels.map((l) => l.color.join())).size).toBe(3);
    expect(manifest.postprocessing).toEqual([1]);
    expect(manifest.folds.map((f) => f.fold)).toEqual(['0', '1']);
    expect(readFileSync(join(site, 'index.html'), 'utf8')).toContain('<title>test (run) — mnxc');
    // nothing half-written beside it
    expect(readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
  }, 120_000);

  it("segments in the page's pipeline exactly as mnxc predict does (two folds, mirroring, post-processing)", async () => {
    const pred = join(root, 'pred');
    const r = mnxc('predict', '-i', imagesDir, '-o', pred, '-m', runDir, '--folds', '0,1', '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    const segmenter = await Segmenter.open(site, fromDisk);
    const stages = new Set<string>();
    let last = 0;
    const input = join(imagesDir, 'ball_0000.nii.gz');
    const seg = await segmenter.segment([{ name: 'ball_0000.nii.gz', bytes: new Uint8Array(readFileSync(input)) }], {
      onProgress: (p) => {
        stages.add(p.stage);
        expect(p.fraction).toBeGreaterThanOrEqual(last);
        last = p.fraction;
      },
    });
    segmenter.dispose();
    expect([...stages]).toEqual(['weights', 'read', 'preprocess', 'windows', 'export', 'done']);
    expect(last).toBe(1);
    const expected = gunzipSync(readFileSync(join(pred, 'ball.nii.gz')));
    expect(Buffer.from(seg.nifti).equals(expected)).toBe(true);
    expect(Buffer.from(gunzipSync(seg.niftiGz())).equals(expected)).toBe(true);
    const labels = readNifti(join(pred, 'ball.nii.gz'));
    expect(labels.shape).toEqual(readNifti(input).shape);
    expect(seg.passes).toBe(seg.windows * 2 * 8);
  }, 120_000);

  it('replaces an earlier export as a whole; refuses a folder it did not write, a missing run, a fold without checkpoint', async () => {
    writeFileSync(join(site, 'stale.txt'), 'from before');
    const again = await exportWeb({ runDir, siteDir: site, folds: '0' });
    expect(again.replaced).toBe(true);
    expect(existsSync(join(site, 'stale.txt'))).toBe(false);
    expect(readdirSync(join(site, 'weights'))).toEqual(['fold_0.safetensors']);

    const mine = join(root, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep me');
    const refused = mnxc('export-web', runDir, '-o', mine);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`mnxc export-web: error: ${mine}: exists and is not a site mnxc export-web wrote (no site.json)`);
    expect(readdirSync(mine)).toEqual(['notes.txt']);

    await expect(exportWeb({ runDir: join(root, 'nope'), siteDir: join(root, 'site2') })).rejects.toThrow(`${join(root, 'nope')}: not a run folder`);
    await expect(exportWeb({ runDir, siteDir: join(root, 'site2'), checkpoint: 'best' })).rejects.toThrow(
      `${join(runDir, 'fold_0', 'checkpoint_best.weights.safetensors')}: no complete 'best' checkpoint in fold 0`,
    );
    await expect(exportWeb({ runDir, siteDir: join(root, 'site2'), folds: '7' })).rejects.toThrow(`${join(runDir, 'fold_7')}: no such fold folder`);
    expect(existsSync(join(root, 'site2'))).toBe(false);
    expect(readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('mnxc serve: the site over HTTP with its MIME types, nothing outside it', async () => {
    const s = await serveFolder(site);
    try {
      const get = (p: string) => fetch(`${s.url}${p}`);
      const index = await get('/');
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect((await get('/tfjs-backend-wasm-simd.wasm')).headers.get('content-type')).toBe('application/wasm');
      expect((await get('/mnxc-page.js')).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      const w = await get('/weights/fold_0.safetensors');
      expect(Number(w.headers.get('content-length'))).toBe(readFileSync(join(site, 'weights', 'fold_0.safetensors')).byteLength);
      expect((await get('/../run/plans.yaml')).status).toBe(404);
      expect((await get('/%2e%2e/run/plans.yaml')).status).toBe(404);
      expect((await get('/nothing.js')).status).toBe(404);
    } finally {
      await s.close();
    }
  });
});
