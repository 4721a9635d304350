/**
 * Issue 19, item 1 (and the predict part of item 6): `predict` never overwrites its own input, two
 * cases never write the same file, and an unwritable output folder is refused before any case is
 * computed, with one line and no stack trace.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTestRunFolder } from '../../app/testing.js';
import { ROOT } from '../fixtures.js';
import { STACK, mnxcSync, writeImage } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-predict-'));
const run = join(root, 'run');
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(() => {
  writeTestRunFolder(run, { spec: join(ROOT, 'examples', 'tiny.mnx'), channels: ['CT'], labels: { '0': 'background', '1': 'organ' }, patch: [16, 16, 16], folds: { '0': 1 } });
  writeImage(join(root, 'single', 'scan.nii.gz'), [10, 10, 10]);
  // case 'a' (a_0000) would write a.nii.gz; case 'a_0000' (a_0000_0000) would write a_0000.nii.gz: case a's input
  writeImage(join(root, 'folder', 'a_0000.nii.gz'), [10, 10, 10]);
  writeImage(join(root, 'folder', 'a_0000_0000.nii.gz'), [10, 10, 10]);
  // a folder nobody can create files in, whoever runs the tests (root included): a path under a file
  writeFileSync(join(root, 'blocker'), 'not a folder');
});

const predict = (...args: string[]) => mnxcSync(['predict', '-m', run, '--backend', 'cpu', '--no-tta', ...args]);

describe('predict refuses outputs that overwrite inputs', () => {
  it('a single file predicted into its own folder (scan.nii.gz → scan.nii.gz)', () => {
    const before = readFileSync(join(root, 'single', 'scan.nii.gz'));
    const r = predict('-i', join(root, 'single', 'scan.nii.gz'), '-o', join(root, 'single'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/scan\.nii\.gz: the output of case scan would overwrite .*scan\.nii\.gz/);
    expect(r.err).not.toMatch(STACK);
    expect(readFileSync(join(root, 'single', 'scan.nii.gz')).equals(before)).toBe(true);
  });

  it('case a and case a_0000 predicted into the input folder', () => {
    const before = readFileSync(join(root, 'folder', 'a_0000.nii.gz'));
    const r = predict('-i', join(root, 'folder'), '-o', join(root, 'folder'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the output of case a_0000 would overwrite .*a_0000\.nii\.gz \(an input image of case a\)/);
    expect(r.err).not.toMatch(/network passes/); // refused before any case is computed
    expect(readFileSync(join(root, 'folder', 'a_0000.nii.gz')).equals(before)).toBe(true);
  });

  it('an unwritable output folder is refused before any case is computed', () => {
    const r = predict('-i', join(root, 'single', 'scan.nii.gz'), '-o', join(root, 'blocker', 'out'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/blocker.out: cannot create the output folder \((ENOTDIR|EEXIST)/);
    expect(r.err.trim().split('\n')).toHaveLength(2); // the settings line, then one line
    expect(r.err).not.toMatch(/network passes/);
    expect(r.err).not.toMatch(STACK);
  });

  it('a distinct output folder still works, and a killed run\'s temporary file there is removed', () => {
    mkdirSync(join(root, 'out'));
    writeFileSync(join(root, 'out', '.a.nii.gz.999999999.1.tmp'), 'half a file');
    const r = predict('-i', join(root, 'folder'), '-o', join(root, 'out'));
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(join(root, 'out')).sort()).toEqual(['a.nii.gz', 'a_0000.nii.gz']);
  });
});
