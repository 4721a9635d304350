import { describe, expect, it } from 'vitest';
import { plannedBatchSize2d, plannedBatchSize3d } from './batch-size.js';
import { planFromFingerprint } from './planner.js';
import type { Fingerprint } from './fingerprint.js';
import type { Triple } from './plans.js';

// Expected values from nnU-Net v1's own planner functions (MedNeXt's nnunet_mednext:
// ExperimentPlanner3D_v21 / ExperimentPlanner2D_v21 get_properties_for_stage with the settings
// MedNeXt's customTargetSpacing_1x1x1 planners run them with: 30 base features, 320 / 512 filters)
const CASES: { spacing: number[]; median: number[]; n: number; mod: number; cl: number; b3: number; p3: number[]; b2: number; p2: number[] }[] = [
  { spacing: [1, 1, 1], median: [40, 40, 40], n: 1000, mod: 1, cl: 2, b3: 50, p3: [40, 40, 40], b2: 2000, p2: [40, 40] },
  { spacing: [1, 1, 1], median: [50, 64, 64], n: 200, mod: 1, cl: 3, b3: 9, p3: [56, 64, 64], b2: 500, p2: [64, 64] },
  { spacing: [1, 1, 1], median: [30, 100, 90], n: 3, mod: 1, cl: 2, b3: 2, p3: [32, 112, 96], b2: 4, p2: [112, 96] },
  { spacing: [1, 1, 1], median: [300, 250, 260], n: 30, mod: 1, cl: 14, b3: 2, p3: [128, 128, 128], b2: 38, p2: [256, 320] },
  { spacing: [1, 1, 1], median: [120, 160, 150], n: 100, mod: 4, cl: 4, b3: 2, p3: [112, 160, 128], b2: 128, p2: [160, 160] },
  { spacing: [1, 1, 1], median: [60, 60, 60], n: 4, mod: 1, cl: 3, b3: 2, p3: [64, 64, 64], b2: 11, p2: [64, 64] },
  { spacing: [3, 0.8, 0.8], median: [80, 420, 420], n: 20, mod: 1, cl: 3, b3: 2, p3: [40, 224, 224], b2: 16, p2: [448, 448] },
  { spacing: [1, 1, 1], median: [24.4, 24, 24], n: 6, mod: 1, cl: 2, b3: 2, p3: [24, 24, 24], b2: 7, p2: [24, 24] },
  { spacing: [1, 1, 1], median: [40, 200, 180], n: 50, mod: 2, cl: 3, b3: 2, p3: [40, 208, 192], b2: 76, p2: [224, 192] },
];

describe("batch size from nnU-Net v1's planner rule", () => {
  for (const c of CASES) {
    it(`median ${c.median.join('×')} at ${c.spacing.join('×')} mm, ${c.n} cases, ${c.mod} channel(s), ${c.cl} classes → 3-D ${c.b3}, 2-D ${c.b2}`, () => {
      const input = { spacing: c.spacing, medianShape: c.median, numCases: c.n, modalities: c.mod, classes: c.cl };
      expect(plannedBatchSize3d(input)).toEqual({ batchSize: c.b3, plannerPatch: c.p3 });
      expect(plannedBatchSize2d(input)).toEqual({ batchSize: c.b2, plannerPatch: c.p2 });
    });
  }

  it('the plans take the 3-D rule (MedNeXt overrides the patch only); --batch-size still wins', () => {
    const caseFp = (i: number) => ({
      id: `c${i}`,
      shape: [40, 40, 40] as Triple,
      spacing: [1, 1, 1] as Triple,
      crop_box: [[0, 40], [0, 40], [0, 40]] as [[number, number], [number, number], [number, number]],
      shape_after_cropping: [40, 40, 40] as Triple,
      size_reduction: 1,
      classes: [0, 1],
      foreground_intensity: [null],
    });
    const fp = {
      version: 1,
      dataset: 'Dataset950_Small',
      channels: ['MR'],
      labels: { '0': 'background', '1': 'fg' },
      cases: Array.from({ length: 1000 }, (_, i) => caseFp(i)),
      foreground_intensity: [null],
      median_size_reduction: 1,
    } as unknown as Fingerprint;
    const plans = planFromFingerprint(fp, {});
    expect(plans.training.patch_size).toEqual([128, 128, 128]);
    expect(plans.training.batch_size).toBe(50);
    expect(planFromFingerprint(fp, { batchSize: 3 }).training.batch_size).toBe(3);
  });
});
