import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MT19937 } from './mt19937.js';
import { ensureSplits, makeSplits, readSplits } from './splits.js';

const dir = mkdtempSync(join(tmpdir(), 'mnxc-splits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('MT19937 (numpy legacy RandomState)', () => {
  it('gives numpy\'s stream: RandomState(12345).randint(0, 2**32, 3, dtype=uint64) and random_sample()', () => {
    const r = new MT19937(12345);
    expect([r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual([3992670690, 3823185381, 1358822685]);
    const s = new MT19937(1234);
    expect([s.random(), s.random(), s.random()]).toEqual([0.1915194503788923, 0.6221087710398319, 0.4377277390071145]);
  });

  it('draws like RandomState(1234).choice(n, k, replace=False) (the class-location sampler)', () => {
    const r = new MT19937(1234);
    expect(r.shuffle([...Array(50).keys()]).slice(0, 10)).toEqual([37, 45, 6, 44, 13, 36, 8, 29, 4, 49]);
    expect(r.shuffle([...Array(30).keys()]).slice(0, 5)).toEqual([1, 23, 0, 22, 18]);
  });

  it('shuffles like RandomState(12345).shuffle(np.arange(13))', () => {
    expect(new MT19937(12345).shuffle([...Array(13).keys()])).toEqual([0, 9, 7, 3, 6, 10, 8, 12, 11, 4, 1, 5, 2]);
  });
});

describe('splits (sklearn KFold(5, shuffle=True, random_state=12345) over sorted ids)', () => {
  const ids = Array.from({ length: 13 }, (_, i) => `case_${String(i).padStart(3, '0')}`);

  it('reproduces the folds numpy + KFold give for 13 cases', () => {
    const folds = makeSplits([...ids].reverse());
    const val = folds.map((f) => f.val.map((v) => Number(v.slice(5))));
    expect(val).toEqual([[0, 7, 9], [3, 6, 10], [8, 11, 12], [1, 4], [2, 5]]);
    for (const f of folds) {
      expect(f.train.length + f.val.length).toBe(13);
      expect(f.train.filter((t) => f.val.includes(t))).toEqual([]);
      expect([...f.train].sort()).toEqual(f.train);
    }
  });

  it('refuses fewer cases than folds', () => {
    expect(() => makeSplits(['a', 'b'])).toThrow(/cannot make 5 folds from 2/);
  });

  it('writes splits_final.json once and then uses the existing file as it is', () => {
    const first = ensureSplits(dir, ids);
    expect(first.created).toBe(true);
    expect(readSplits(first.path)).toEqual(first.folds);
    const custom = [{ train: ['x', 'y'], val: ['z'] }];
    writeFileSync(first.path, JSON.stringify(custom));
    const again = ensureSplits(dir, ids);
    expect(again.created).toBe(false);
    expect(again.folds).toEqual(custom);
    writeFileSync(first.path, JSON.stringify([{ train: 'x' }]));
    expect(() => readSplits(first.path)).toThrow(/\[0\]\.train: must be a list of case ids/);
  });
});
