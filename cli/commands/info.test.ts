import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FIXTURES } from '../../tests/fixtures.js';
import { main } from '../main.js';
import { mnxcInProcess } from '../../tests/cli.js';

const mnxc = mnxcInProcess;
afterEach(() => vi.restoreAllMocks());

const DIR = join(FIXTURES, 'nifti');

describe('mnxc info', () => {
  it('prints shape, type, voxel size, orientation and intensities', async () => {
    const r = await mnxc('info', join(DIR, 'ct_int16_slope.nii.gz'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/shape +40 × 36 × 12/);
    expect(r.out).toMatch(/dtype +int16 \(scaled: slope 1, intercept -1024\)/);
    expect(r.out).toMatch(/orientation +LPS/);
    expect(r.out).toMatch(/intensity +min -1224 +max 775/);
  });

  it('--json has shape, dtype, spacing, affine (RAS+) and orientation', async () => {
    const r = await mnxc('info', '--json', join(DIR, 'nifti2_float64.nii.gz'));
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out);
    expect(info).toMatchObject({ shape: [12, 10, 8], dtype: 'float64', spacing: [0.5, 0.5, 0.7], orientation: 'RAI', niftiVersion: 2, sformCode: 2 });
    expect(info.affine).toHaveLength(4);
    expect(info.intensity.min).toBeCloseTo(-1.671262222215641, 12);
    expect(info.intensity.max).toBeCloseTo(11.296867690902715, 12);
  });

  it('refuses a malformed file with the file and the problem, exit 1, no stack trace', async () => {
    const file = join(DIR, 'malformed', 'negative_dim0.nii');
    const r = await mnxc('info', file);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`mnxc info: error: ${file}: dim[0] is -3: the number of dimensions must be 1 to 7\n`);
  });

  it('reports good and bad files together, exit 1', async () => {
    const r = await mnxc('info', '--json', join(DIR, 'label_uint8.nii.gz'), join(DIR, 'malformed', 'empty.nii'));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toHaveLength(1);
    expect(r.err).toMatch(/empty\.nii: file is empty/);
  });

  it('needs a file (usage error, exit 2)', async () => {
    expect((await mnxc('info')).code).toBe(2);
  });
});
