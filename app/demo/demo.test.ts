import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { readNifti } from '../../runtime/data/nifti/index.js';
import { mnxcInProcess } from '../../tests/cli.js';

const mnxc = mnxcInProcess;

const root = mkdtempSync(join(tmpdir(), 'mnxc-demo-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Debian's chromium (apt-get install chromium; CI installs it). Without it the screenshot test
 * skips and says so, except where MNXC_REQUIRE_BROWSER=1 (CI): there a missing browser fails.
 */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM && process.env.MNXC_REQUIRE_BROWSER !== '1') {
  console.warn('SKIPPED: report.html screenshot test: no Chromium (apt-get install chromium)');
}

describe('mnxc demo --quick', () => {
  const out = join(root, 'demo');
  let run: Promise<{ code: number; out: string; err: string }> | undefined;
  const result = () => (run ??= mnxc('demo', '--quick', '--out', out));

  it('runs every step end to end and prints the metrics and where the outputs are', async () => {
    const r = await result();
    expect(r.code, r.err).toBe(0);
    for (const [i, name] of ['generate', 'dataset check', 'plan', 'preprocess', 'compile', 'train', 'predict', 'evaluate', 'report'].entries()) {
      expect(r.err).toContain(`[${i + 1}/9] ${name}:`);
    }
    expect(r.out).toMatch(/^liver\s+\d\.\d{3}\s+\d\.\d{3}$/m);
    expect(r.out).toMatch(/^kidney\s+\d\.\d{3}\s+\d\.\d{3}$/m);
    expect(r.out).toMatch(/^lesion\s+/m);
    expect(r.out).toMatch(/^mean\s+\d\.\d{3}\s+\d\.\d{3}\s+\(2 test cases\)$/m);
    expect(r.out).toContain('report.html');
  });

  it('leaves a run folder that mnxc predict reads, predictions on the input grids, and a metrics summary', async () => {
    expect((await result()).code).toBe(0);
    const run = join(out, 'run');
    for (const f of ['plans.yaml', 'model.ir.json', 'dataset.json', 'spec/tiny.mnx', 'spec/mednext.mnx', 'fold_0/checkpoint_final.json', 'fold_0/checkpoint_final.weights.safetensors', 'fold_0/progress.svg']) {
      expect(existsSync(join(run, f)), f).toBe(true);
    }
    const images = join(out, 'data', 'Dataset900_Phantom', 'imagesTs');
    const preds = readdirSync(join(out, 'predictions')).filter((f) => f.endsWith('.nii.gz')).sort();
    expect(preds).toEqual(['phantom_500.nii.gz', 'phantom_501.nii.gz']);
    for (const p of preds) {
      const pred = readNifti(join(out, 'predictions', p));
      const img = readNifti(join(images, p.replace('.nii.gz', '_0000.nii.gz')));
      expect(pred.shape).toEqual(img.shape);
      expect(pred.affine.flat().map((v) => +v.toFixed(4))).toEqual(img.affine.flat().map((v) => +v.toFixed(4)));
      expect([...new Set(pred.data)].every((v) => [0, 1, 2, 3].includes(v))).toBe(true);
    }
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.cases).toHaveLength(2);
    expect(Object.keys(summary.mean).sort()).toEqual(['1', '2', '3']);
    expect(existsSync(join(out, 'summary.csv'))).toBe(true);
  });

  it('writes a self-contained report.html: curves, metrics table, slice pictures', async () => {
    expect((await result()).code).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('<svg');
    expect(html).toContain('<polyline');
    expect(html).toMatch(/<td>liver<\/td><td>\d\.\d{3}<\/td>/);
    expect((html.match(/src="data:image\/png;base64,/g) ?? []).length).toBeGreaterThanOrEqual(2);
    // Nothing fetched from elsewhere.
    expect(html).not.toMatch(/(src|href)="(https?:|file:|\/)/);
  });

  it.skipIf(!CHROMIUM && process.env.MNXC_REQUIRE_BROWSER !== '1')('report.html renders in headless Chromium', async () => {
    if (!CHROMIUM) throw new Error('MNXC_REQUIRE_BROWSER=1 but no Chromium at /usr/bin/chromium (apt-get install chromium)');
    expect((await result()).code).toBe(0);
    const shot = join(root, 'report.png');
    execFileSync(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--screenshot=${shot}`, '--window-size=1000,2200', `file://${join(out, 'report.html')}`], { stdio: 'ignore', timeout: 60_000 });
    const png = readFileSync(shot);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    // A blank page compresses to a few kB; slices, curves and tables do not.
    expect(statSync(shot).size).toBeGreaterThan(40_000);
    if (process.env.MNXC_KEEP_SCREENSHOT) execFileSync('cp', [shot, process.env.MNXC_KEEP_SCREENSHOT]);
  });

  it('leaves a run folder that mnxc train continues, and trains another fold into, without "plans differ"', async () => {
    expect((await result()).code).toBe(0);
    const run = join(out, 'run');
    const pre = join(out, 'preprocessed');
    // fold 0 is complete: continuing checks the plans and network hashes and has nothing left to do
    const cont = await mnxc('train', pre, '--fold', '0', '-o', run, '--continue', '--workers', '0');
    expect(cont.code, cont.err).toBe(0);
    expect(cont.err).not.toMatch(/differ/);
    expect(cont.out).toMatch(/finished after 2 epoch\(s\)/);
    // another fold of the same run: the run's plans and network, one epoch, then continued
    const other = await mnxc('train', pre, '--fold', '1', '-o', run, '--until-epoch', '1', '--workers', '0');
    expect(other.code, other.err).toBe(0);
    expect(existsSync(join(run, 'fold_1', 'checkpoint_latest.json'))).toBe(true);
    const more = await mnxc('train', pre, '--fold', '1', '-o', run, '--continue', '--workers', '0');
    expect(more.code, more.err).toBe(0);
    expect(more.err).toMatch(/continuing from epoch 1/);
    expect(JSON.parse(readFileSync(join(run, 'network.json'), 'utf8'))).toMatchObject({ given: 'spec', set: ['n_channels=4', 'exp_r=2', 'n_classes=4'] });
  });

  it('refuses a non-empty output folder without touching it', async () => {
    expect((await result()).code).toBe(0);
    const before = readdirSync(out).sort();
    const r = await mnxc('demo', '--quick', '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the output folder is not empty/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(readdirSync(out).sort()).toEqual(before);
  });

  it('rejects a bad command line', async () => {
    expect((await mnxc('demo', '--backend', 'gpu')).code).toBe(2);
    expect((await mnxc('demo', 'somewhere')).code).toBe(2);
  });
});
