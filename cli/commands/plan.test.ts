import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { syntheticCase, writeTestDataset } from '../../runtime/data/dataset/index.js';
import { loadPlans, relocatePlans } from '../../runtime/data/plan/index.js';
import { ROOT } from '../../tests/fixtures.js';
import { main } from '../main.js';
import { mnxcInProcess } from '../../tests/cli.js';

const mnxc = mnxcInProcess;
afterEach(() => vi.restoreAllMocks());

const root = mkdtempSync(join(tmpdir(), 'mnxc-cli-plan-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ds = join(root, 'Dataset501_Cli');
writeTestDataset(ds, {
  channelNames: ['T1', 'CT'],
  labels: { background: 0, a: 1, b: 2 },
  cases: [1, 2, 3, 4, 5].map((i) => ({ ...syntheticCase(`c${i}`, [14, 12, 6], 2, i), affine: [[0.8, 0, 0, 0], [0, 0.8, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1]] })),
});

describe('mnxc plan / mnxc preprocess', () => {
  it('plan writes fingerprint.json and a valid plans.yaml with the options given', async () => {
    const plans = join(root, 'out', 'plans.yaml');
    const r = await mnxc('plan', ds, '-o', plans, '--patch', '64,64,32', '--batch-size', '3', '--variant', 'S', '--set', 'kernel_size=5');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/normalisation: T1 → zscore, CT → CT/);
    const p = loadPlans(plans);
    expect(p.training.patch_size).toEqual([64, 64, 32]);
    expect(p.training.batch_size).toBe(3);
    expect(p.model).toMatchObject({ variant: 'S', set: { kernel_size: 5 } });
    const fp = JSON.parse(readFileSync(join(root, 'out', 'fingerprint.json'), 'utf8'));
    expect(fp.cases).toHaveLength(5);
    expect(fp.cases[0].shape).toEqual([6, 12, 14]);
  });

  it('preprocess writes the cases, a copy of the plans and splits_final.json; a re-run skips them', async () => {
    const plans = join(root, 'out', 'plans.yaml');
    const r = await mnxc('preprocess', ds, '--plans', plans, '--workers', '0');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/5 case\(s\) preprocessed, 0 already done, 0 failed/);
    const out = join(root, 'out', 'preprocessed');
    for (const f of ['c1.json', 'c1.data.f32', 'c1.seg.i8', 'plans.yaml', 'splits_final.json']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'splits_final.json'), 'utf8'))).toHaveLength(5);
    const again = await mnxc('preprocess', ds, '--plans', plans, '--workers', '0');
    expect(again.err).toMatch(/0 case\(s\) preprocessed, 5 already done/);
  });

  it("preprocess's copy of the plans names the same spec and fingerprint files as the plans it read", async () => {
    const dir = join(root, 'relocate');
    const plans = join(dir, 'plans', 'plans.yaml');
    const spec = join(ROOT, 'examples', 'tiny.mnx');
    expect((await mnxc('plan', ds, '-o', plans, '--spec', spec)).code).toBe(0);
    expect(loadPlans(plans).model.spec).toBe(relative(dirname(plans), spec)); // written relative to the plans file
    const out = join(dir, 'elsewhere', 'pre');
    expect((await mnxc('preprocess', ds, '--plans', plans, '-o', out, '--workers', '0')).code).toBe(0);
    const copy = loadPlans(join(out, 'plans.yaml'));
    expect(resolve(out, copy.model.spec)).toBe(spec);
    expect(resolve(out, copy.fingerprint)).toBe(join(dir, 'plans', 'fingerprint.json'));
    expect(existsSync(resolve(out, copy.fingerprint))).toBe(true);
    // Absolute and empty paths stay as they are.
    const p = loadPlans(plans);
    expect(relocatePlans({ ...p, model: { ...p.model, spec: spec } }, plans, join(out, 'plans.yaml')).model.spec).toBe(spec);
    expect(relocatePlans({ ...p, model: { ...p.model, spec: '' } }, plans, join(out, 'plans.yaml')).model.spec).toBe('');
  });

  it('bad command lines exit 2, bad plans exit 1 with the field named', async () => {
    expect((await mnxc('plan', ds, '--patch', '64,64')).code).toBe(2);
    expect((await mnxc('plan', ds, '--target-spacing', 'fine')).code).toBe(2);
    expect((await mnxc('preprocess', ds)).code).toBe(2);
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, readFileSync(join(root, 'out', 'plans.yaml'), 'utf8').replace('batch_size: 3', 'batch_size: -1'));
    const r = await mnxc('preprocess', ds, '--plans', bad);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:\d+: training\.batch_size: must be >= 1/);
    const missing = await mnxc('plan', join(root, 'nowhere'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nowhere/);
  });

  it('has --help', async () => {
    expect((await mnxc('plan', '--help')).out).toMatch(/Usage: mnxc plan DATASET/);
    expect((await mnxc('preprocess', '--help')).out).toMatch(/Usage: mnxc preprocess DATASET --plans/);
  });
});
