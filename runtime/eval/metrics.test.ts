import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../tests/fixtures.js';
import { readSafetensors } from '../io/safetensors.js';
import { maskMetrics, maskOf } from './metrics.js';
import { computeSurfaceDistances, surfaceDiceAtTolerance } from './surface-distances.js';

const DIR = join(FIXTURES, 'metrics');

interface FixturePair {
  index: number;
  pred: string;
  ref: string;
  shape: [number, number, number];
  spacing_mm: [number, number, number];
  per_class: Record<string, { dice: number | null; nsd: number | null; nsd_deepmind: number | null; nsd_deepmind_unit_spacing: number | null }>;
}

/**
 * HD95 and the symmetric ASD for the same pairs and labels, computed with DeepMind's
 * surface-distance (commit 1f805ce: compute_robust_hausdorff(…, 95) and the mean of the two values
 * of compute_average_surface_distance) at the fixture spacing; null where a surface is empty.
 */
const LIBRARY_HD95_ASD: Record<string, [number | null, number | null]> = {
  '0/0': [1.0, 0.09249752402663], '0/1': [1.4142135623730951, 0.51694226225746], '0/2': [1.0, 0.57987849224436],
  '1/0': [0.8, 0.05796505937307], '1/1': [2.7440845468024486, 0.40155132841505], '1/2': [3.2, 0.74881359546839],
  '2/0': [1.4, 0.10031447833012], '2/1': [3.0, 0.38834793405848], '2/2': [null, null],
  '3/0': [2.0, 0.23127172030268], '3/1': [7.9202272694664515, 1.15899857454512], '3/2': [12.310970717209914, 1.57316778139064],
};

function expectClose(got: number, want: number | null, tol: number, what: string): void {
  if (want === null) expect(got, what).toBeNaN();
  else expect(Math.abs(got - want), `${what}: got ${got}, want ${want}`).toBeLessThanOrEqual(tol);
}

describe('metrics against the MedNeXt / surface-distance fixtures', () => {
  const tensors = readSafetensors(join(DIR, 'metrics.safetensors'));
  const fixture = (JSON.parse(readFileSync(join(DIR, 'metrics.json'), 'utf8')) as { pairs: FixturePair[] });

  it('matches Dice, surface Dice (real and unit spacing), voxel NSD, HD95 and ASD for every pair and label', () => {
    expect(fixture.pairs.length).toBe(4);
    for (const pair of fixture.pairs) {
      const pred = tensors.get(pair.pred)!.data as Uint8Array;
      const ref = tensors.get(pair.ref)!.data as Uint8Array;
      for (const [label, want] of Object.entries(pair.per_class)) {
        const what = `pair ${pair.index} label ${label}`;
        const p = maskOf(pred, [Number(label)]), r = maskOf(ref, [Number(label)]);
        const m = maskMetrics(p, r, pair.shape, pair.spacing_mm, 1.0);
        expectClose(m.dice, want.dice, 1e-12, `${what} dice`);
        expectClose(m.nsd, want.nsd_deepmind, 1e-12, `${what} nsd`);
        expectClose(m.nsd_voxel, want.nsd, 1e-12, `${what} nsd_voxel`);
        const unit = surfaceDiceAtTolerance(computeSurfaceDistances(r, p, pair.shape, [1, 1, 1]), 1.0);
        expectClose(unit, want.nsd_deepmind_unit_spacing, 1e-12, `${what} nsd unit spacing`);
        const [hd95, asd] = LIBRARY_HD95_ASD[`${pair.index}/${label}`]!;
        expectClose(m.hd95, hd95, 1e-12, `${what} hd95`);
        expectClose(m.asd, asd, 1e-11, `${what} asd`);
      }
    }
  });
});

describe('metrics of empty masks', () => {
  const shape = [4, 5, 6] as [number, number, number];
  const empty = new Uint8Array(120);
  const one = new Uint8Array(120);
  one[(2 * 5 + 2) * 6 + 3] = 1;

  it('gives NaN everywhere when both masks are empty', () => {
    const m = maskMetrics(empty, empty, shape, [1, 1, 1], 1);
    for (const v of Object.values(m)) expect(v).toBeNaN();
  });

  it('gives Dice 0 and NSD 0, and NaN distances, when one mask is empty', () => {
    for (const [p, r] of [[empty, one], [one, empty]]) {
      const m = maskMetrics(p!, r!, shape, [1, 1, 1], 1);
      expect(m.dice).toBe(0);
      expect(m.nsd).toBe(0);
      expect(m.hd95).toBeNaN();
      expect(m.asd).toBeNaN();
      expect(m.nsd_voxel).toBeNaN();
    }
  });

  it('gives a perfect score for identical masks', () => {
    const m = maskMetrics(one, one, shape, [0.5, 1, 2], 1);
    expect(m).toEqual({ dice: 1, nsd: 1, hd95: 0, asd: 0, nsd_voxel: 2 / (2 + 1e-8) });
  });
});
