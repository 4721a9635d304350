/**
 * Issue 19, item 5: predict estimates a case's memory from its header (after the plans'
 * resampling) before reading it, refuses a case over the budget (--max-memory) with the figure,
 * and one case's failure does not end the batch. Cases: a 1000³ image (a sparse .nii: 1 GB on
 * paper, nothing on disk; without the check it grows to tens of GB) and an 8³ image with 1000 mm
 * voxels (8000³ after resampling to 1 mm; a RangeError before).
 */
import { closeSync, mkdtempSync, openSync, existsSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTestRunFolder } from '../../app/testing.js';
import { estimateCaseMemory, parseMemorySize } from '../../runtime/infer/memory.js';
import { loadPlans } from '../../runtime/data/plan/index.js';
import { ROOT } from '../fixtures.js';
import { STACK, mnxcSync, writeImage } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-memory-'));
const run = join(root, 'run');
const images = join(root, 'images');
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(() => {
  writeTestRunFolder(run, { spec: join(ROOT, 'examples', 'tiny.mnx'), channels: ['CT'], labels: { '0': 'background', '1': 'organ' }, patch: [16, 16, 16], folds: { '0': 1 } });
  writeImage(join(images, 'ok_0000.nii.gz'), [12, 12, 12]);
  writeImage(join(images, 'coarse_0000.nii.gz'), [8, 8, 8], (i) => i % 3, [1000, 1000, 1000]);
  // 1000³ uint8: a real header, the voxels a hole in a sparse file
  const huge = join(images, 'huge_0000.nii');
  writeImage(huge, [10, 10, 10], () => 0, [1, 1, 1], 'uint8');
  const fd = openSync(huge, 'r+');
  const dims = Buffer.alloc(6);
  for (let a = 0; a < 3; a++) dims.writeInt16LE(1000, a * 2);
  writeSync(fd, dims, 0, 6, 42); // dim[1..3]
  closeSync(fd);
  truncateSync(huge, 352 + 1000 ** 3);
});

describe('memory per case', () => {
  it('the estimate reads only headers and counts the resampled size', () => {
    const plans = loadPlans(join(run, 'plans.yaml'));
    const huge = estimateCaseMemory([join(images, 'huge_0000.nii')], plans, 2);
    expect(huge.shape).toEqual([1000, 1000, 1000]);
    expect(huge.bytes).toBeGreaterThan(20 * 2 ** 30);
    const coarse = estimateCaseMemory([join(images, 'coarse_0000.nii.gz')], plans, 2);
    expect(coarse.resampled).toEqual([8000, 8000, 8000]);
    expect(parseMemorySize('8G')).toBe(8 * 2 ** 30);
    expect(parseMemorySize('512MiB')).toBe(512 * 2 ** 20);
    expect(parseMemorySize('lots')).toBeNull();
  });

  it('an oversized case is skipped with the figure; the other cases are still predicted (exit 1)', () => {
    const out = join(root, 'out');
    const r = mnxcSync(['predict', '-i', images, '-o', out, '-m', run, '--backend', 'cpu', '--no-tta', '--max-memory', '2G']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/huge: needs about [\d.]+ GiB \(1000×1000×1000 voxels.*more than the budget of 2\.0 GiB/);
    expect(r.err).toMatch(/coarse: needs about [\d.]+ GiB \(8×8×8 voxels, 8000×8000×8000 after resampling/);
    expect(r.err).not.toMatch(STACK);
    expect(existsSync(join(out, 'ok.nii.gz'))).toBe(true);
    expect(existsSync(join(out, 'huge.nii.gz'))).toBe(false);
  });

  it('info shows a huge image\'s header without reading its voxels', () => {
    const r = mnxcSync(['info', join(images, 'huge_0000.nii'), '--max-memory', '256M']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/shape\s+1000 × 1000 × 1000/);
    expect(r.out).toMatch(/intensity\s+not computed: reading the voxels takes about 2\.8 GiB, more than the budget of 256 MiB/);
  });

  it('--max-memory must be a size', () => {
    const r = mnxcSync(['predict', '-i', images, '-o', join(root, 'o2'), '-m', run, '--max-memory', 'lots']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--max-memory expects a size/);
  });
});
