/**
 * Issue 19, items 8 and 9: datasets as users have them. Symbolic links are followed by `dataset
 * check`, `plan` and `preprocess` (no misleading "label without images"); a link loop is reported by
 * name. Labels outside dataset.json and an image/label affine mismatch are refused by `preprocess`
 * (and `plan`) with the case and the values, as `dataset check` reports them.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mnxcInProcess as mnxc } from '../cli.js';
import { STACK, writeImage } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-hostile-datasets-'));
const ds = join(root, 'Dataset901_Links');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const shape: [number, number, number] = [12, 12, 12];
const ball = (value: number) => (i: number) => {
  const x = i % 12, y = Math.floor(i / 12) % 12, z = Math.floor(i / 144);
  return Math.hypot(x - 6, y - 6, z - 6) < 4 ? value : 0;
};
beforeAll(() => {
  writeFileSync(join(root, 'x'), '');
  mkdirSync(join(ds, 'imagesTr'), { recursive: true });
  writeFileSync(join(ds, 'dataset.json'), JSON.stringify({ channel_names: { '0': 'CT' }, labels: { background: 0, organ: 1 }, numTraining: 3, file_ending: '.nii.gz' }));
  for (const id of ['a', 'b', 'c']) {
    // case b's image lives in an archive folder and is linked into imagesTr
    const image = id === 'b' ? join(root, 'archive', 'b_0000.nii.gz') : join(ds, 'imagesTr', `${id}_0000.nii.gz`);
    writeImage(image, shape, (i) => 100 + ball(50)(i) + (i % 5));
    writeImage(join(ds, 'labelsTr', `${id}.nii.gz`), shape, ball(1), [1, 1, 1], 'uint8');
  }
  symlinkSync(join(root, 'archive', 'b_0000.nii.gz'), join(ds, 'imagesTr', 'b_0000.nii.gz'));
});

describe('symbolic links', () => {
  it('a linked image counts as the case’s image in dataset check and plan', async () => {
    const check = await mnxc('dataset', 'check', ds);
    expect(check.code, check.out + check.err).toBe(0);
    expect(check.out + check.err).not.toMatch(/label without images/);
    const plan = await mnxc('plan', ds, '-o', join(root, 'plans.yaml'), '--patch', '8,8,8');
    expect(plan.code, plan.err).toBe(0);
    const pre = await mnxc('preprocess', ds, '--plans', join(root, 'plans.yaml'), '-o', join(root, 'pre'), '--workers', '0');
    expect(pre.code, pre.err).toBe(0);
    expect(pre.out + pre.err).toMatch(/\b3\b.*case/);
  });

  it('a link loop is reported by name', async () => {
    const loop = join(ds, 'imagesTr', 'loop_0000.nii.gz');
    symlinkSync(loop, loop);
    try {
      const check = await mnxc('dataset', 'check', ds);
      expect(check.code).toBe(1);
      expect(check.out + check.err).toMatch(/imagesTr\/loop_0000\.nii\.gz: symbolic link loop/);
      const plan = await mnxc('plan', ds, '-o', join(root, 'plans2.yaml'));
      expect(plan.code).toBe(1);
      expect(plan.err).toMatch(/loop_0000\.nii\.gz: symbolic link loop/);
    } finally {
      unlinkSync(loop);
    }
  });
});

describe('labels and geometry', () => {
  it('label value 7 (not in dataset.json) is refused by preprocess with the case and the value', async () => {
    writeImage(join(ds, 'labelsTr', 'c.nii.gz'), shape, (i) => (ball(1)(i) ? (i % 2 ? 7 : 1) : 0), [1, 1, 1], 'uint8');
    const check = await mnxc('dataset', 'check', ds);
    expect(check.out + check.err).toMatch(/label value\(s\) 7 not declared/);
    const pre = await mnxc('preprocess', ds, '--plans', join(root, 'plans.yaml'), '-o', join(root, 'pre7'), '--workers', '0');
    expect(pre.code).toBe(1);
    expect(pre.out + pre.err).toMatch(/case c: .*c\.nii\.gz: label value\(s\) 7 not declared in dataset\.json labels \(declared: 0, 1\)/);
    expect(pre.out + pre.err).not.toMatch(STACK);
    writeImage(join(ds, 'labelsTr', 'c.nii.gz'), shape, ball(1), [1, 1, 1], 'uint8');
  });

  it('a label whose affine differs from its image is refused by preprocess, as dataset check reports it', async () => {
    writeImage(join(ds, 'labelsTr', 'a.nii.gz'), shape, ball(1), [1, 1, 1.5], 'uint8');
    const check = await mnxc('dataset', 'check', ds);
    expect(check.out + check.err).toMatch(/a\.nii\.gz.*geometry \(affine\) differs/);
    const pre = await mnxc('preprocess', ds, '--plans', join(root, 'plans.yaml'), '-o', join(root, 'preA'), '--workers', '0');
    expect(pre.code).toBe(1);
    expect(pre.out + pre.err).toMatch(/case a: .*a\.nii\.gz: geometry \(affine\) of the label differs from the image's/);
    writeImage(join(ds, 'labelsTr', 'a.nii.gz'), shape, ball(1), [1, 1, 1], 'uint8');
  });
});
