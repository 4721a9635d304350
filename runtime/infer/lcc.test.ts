import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Triple } from '../data/plan/plans.js';
import { findInputCases } from './inputs.js';
import { connectedComponents, keepLargestComponentPerClass } from './lcc.js';

const shape: Triple = [4, 5, 6];
const idx = (a: number, b: number, c: number) => (a * 5 + b) * 6 + c;

describe('largest connected component per class', () => {
  it('labels face-connected components only (6 neighbours, scipy.ndimage.label default)', () => {
    const m = new Uint8Array(4 * 5 * 6);
    m[idx(0, 0, 0)] = 1;
    m[idx(1, 1, 1)] = 1; // touches (0,0,0) only at a corner
    m[idx(1, 1, 2)] = 1; // face neighbour of (1,1,1)
    m[idx(3, 4, 5)] = 1;
    const { ids, sizes } = connectedComponents((i) => m[i] === 1, shape);
    expect(sizes).toEqual([0, 1, 2, 1]);
    expect(ids[idx(1, 1, 1)]).toBe(ids[idx(1, 1, 2)]);
    expect(ids[idx(0, 0, 0)]).not.toBe(ids[idx(1, 1, 1)]);
  });

  it('keeps each class’s largest component and clears the rest to background', () => {
    const labels = new Uint8Array(4 * 5 * 6);
    // class 1: a bar of 4 along axis 2, and a separate bar of 2 elsewhere
    for (let c = 0; c < 4; c++) labels[idx(0, 0, c)] = 1;
    labels[idx(3, 4, 4)] = 1;
    labels[idx(3, 4, 5)] = 1;
    // class 2: 3 voxels in a column along axis 0 touching class 1's big bar, and one lone voxel
    for (let a = 1; a < 4; a++) labels[idx(a, 0, 0)] = 2;
    labels[idx(2, 2, 2)] = 2;
    // class 3: a single component, untouched
    labels[idx(1, 3, 5)] = 3;
    const before = Uint8Array.from(labels);
    const removed = keepLargestComponentPerClass(labels, shape, [1, 2, 3]);
    expect(removed).toEqual({ 1: 2, 2: 1, 3: 0 });
    expect(labels[idx(3, 4, 4)]).toBe(0);
    expect(labels[idx(3, 4, 5)]).toBe(0);
    expect(labels[idx(2, 2, 2)]).toBe(0);
    for (let c = 0; c < 4; c++) expect(labels[idx(0, 0, c)]).toBe(1);
    for (let a = 1; a < 4; a++) expect(labels[idx(a, 0, 0)]).toBe(2);
    expect(labels[idx(1, 3, 5)]).toBe(3);
    let changed = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] !== before[i]) changed++;
    expect(changed).toBe(3);
  });
});

describe('input cases', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnxc-inputs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const touch = (name: string) => writeFileSync(join(dir, name), '');

  it('groups {case}_{XXXX}.nii.gz by case, channels in order, and names what is missing', () => {
    touch('b_0001.nii.gz');
    touch('b_0000.nii.gz');
    touch('a_x_0000.nii.gz');
    touch('a_x_0001.nii.gz');
    touch('notes.txt');
    expect(findInputCases(dir, 2)).toEqual([
      { id: 'a_x', images: [join(dir, 'a_x_0000.nii.gz'), join(dir, 'a_x_0001.nii.gz')] },
      { id: 'b', images: [join(dir, 'b_0000.nii.gz'), join(dir, 'b_0001.nii.gz')] },
    ]);
    expect(() => findInputCases(dir, 3)).toThrow(/case a_x lacks channel file\(s\) a_x_0002\.nii\.gz/);
    expect(() => findInputCases(dir, 1)).toThrow(/a_x_0001\.nii\.gz: channel 0001, but the model takes 1 channel/);
  });

  it('takes a single file as the one channel of a case named after it', () => {
    expect(findInputCases(join(dir, 'b_0000.nii.gz'), 1)).toEqual([{ id: 'b', images: [join(dir, 'b_0000.nii.gz')] }]);
    touch('scan.nii');
    expect(findInputCases(join(dir, 'scan.nii'), 1)[0]!.id).toBe('scan');
    expect(() => findInputCases(join(dir, 'scan.nii'), 2)).toThrow(/single file gives one channel, but the model takes 2/);
    expect(() => findInputCases(join(dir, 'nothing'), 1)).toThrow(/no such file or folder/);
  });
});
