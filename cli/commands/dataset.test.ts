import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { syntheticCase, writeTestDataset } from '../../runtime/data/dataset/index.js';
import { main } from '../main.js';
import { mnxcInProcess } from '../../tests/cli.js';

const mnxc = mnxcInProcess;

const root = mkdtempSync(join(tmpdir(), 'mnxc-dataset-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function dataset(name: string): string {
  return writeTestDataset(join(root, name), {
    channelNames: ['CT', 'PET'],
    labels: { background: 0, lesion: 1, core: 2 },
    cases: ['x1', 'x2'].map((id, i) => syntheticCase(id, [8, 8, 6], 2, i)),
  });
}

describe('mnxc dataset', () => {
  it('check: exit 0 and "ok" on a clean dataset', async () => {
    const r = await mnxc('dataset', 'check', dataset('Dataset100_Ok'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/nnU-Net v2 dataset, 2 training case\(s\)/);
    expect(r.out).toMatch(/ok: no problems found/);
  });

  it('check --json: exit 1 with the problems per file', async () => {
    const dir = dataset('Dataset101_Bad');
    unlinkSync(join(dir, 'imagesTr', 'x2_0001.nii.gz'));
    const r = await mnxc('dataset', 'check', '--json', dir);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ file: 'imagesTr/x2_0001.nii.gz', case: 'x2', problem: 'missing (channel 1 "PET")' }]);
  });

  it('check: a folder without dataset.json is a clean error (exit 1)', async () => {
    const r = await mnxc('dataset', 'check', join(root, 'nothing-here'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nothing-here: not a dataset folder/);
  });

  it('bad subcommands and arguments are usage errors (exit 2)', async () => {
    expect((await mnxc('dataset')).code).toBe(2);
    expect((await mnxc('dataset', 'frobnicate')).code).toBe(2);
    expect((await mnxc('dataset', 'convert-msd', 'only-one')).code).toBe(2);
  });
});
