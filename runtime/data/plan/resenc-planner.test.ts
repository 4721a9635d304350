import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../../tests/fixtures.js';
import { planResEnc, poolAndConvProps, type ResEncPreset } from './resenc-planner.js';

const REF = join(FIXTURES, 'resenc-reference');

describe("nnU-Net's ResEnc presets' planning (patch, batch, network)", () => {
  const counts = JSON.parse(readFileSync(join(REF, 'param_counts.json'), 'utf8'));
  const rows = (counts.rows as { fingerprint: string; preset: ResEncPreset; configuration: string; deep_supervision: boolean; patch_size: number[]; batch_size: number; constructor_args: Record<string, unknown> }[]).filter((r) => !r.deep_supervision);

  it.each(rows.map((r) => [`${r.fingerprint} ${r.preset} ${r.configuration}`, r] as const))('%s: the official planner\'s patch, batch and arch_kwargs', (_, r) => {
    const fp = counts.fingerprints[r.fingerprint] as { spacing: number[]; median_shape: number[]; n_train: number; n_labels: number };
    const two = r.configuration === '2d';
    const plan = planResEnc(r.preset, {
      spacing: two ? fp.spacing.slice(1) : fp.spacing,
      medianShape: two ? fp.median_shape.slice(1) : fp.median_shape,
      numClasses: fp.n_labels,
      datasetVoxels: fp.median_shape.reduce((a, b) => a * b, 1) * fp.n_train,
    });
    expect(plan.patch_size).toEqual(r.patch_size);
    expect(plan.batch_size).toBe(r.batch_size);
    expect(plan.estimate * (2 / (two ? 12 : 2))).toBeLessThanOrEqual(plan.reference);
    for (const k of ['n_stages', 'features_per_stage', 'kernel_sizes', 'strides', 'n_blocks_per_stage', 'n_conv_per_stage_decoder'] as const) expect(plan.architecture[k], k).toEqual(r.constructor_args[k]);
  });

  it("the fixtures' topologies are get_pool_and_conv_props' for their spacing and patch", () => {
    for (const c of ['resenc_iso', 'resenc_aniso']) {
      const meta = JSON.parse(readFileSync(join(REF, `${c}.json`), 'utf8'));
      const t = poolAndConvProps(meta.nnunet_topology.spacing, meta.nnunet_topology.patch_size);
      expect(t.strides, c).toEqual(meta.constructor_args.strides);
      expect(t.kernelSizes, c).toEqual(meta.constructor_args.kernel_sizes);
      expect(t.patchSize, c).toEqual(meta.nnunet_topology.patch_size);
    }
    // An odd patch is padded up to the divisibility the pooling needs.
    expect(poolAndConvProps([1, 1, 1], [100, 70, 64]).patchSize).toEqual([112, 80, 64]);
  });
});
