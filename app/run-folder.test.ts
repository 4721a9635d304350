import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultPlans, loadPlans, parsePlans, stringifyPlans, type Plans } from '../runtime/data/plan/index.js';
import { ROOT } from '../tests/fixtures.js';
import { requireNetwork } from './network.js';
import { plansHash, RunFolder } from './run-folder.js';

const root = mkdtempSync(join(tmpdir(), 'mnxc-run-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = join(ROOT, 'examples', 'tiny.mnx');

function plans(): Plans {
  return defaultPlans({
    dataset: { name: 'test', channels: ['CT'], labels: { '0': 'background', '1': 'organ' }, num_training: 4 },
    target_spacing: [1, 1, 1],
    normalization: [{ channel: 0, name: 'CT', scheme: 'zscore', use_nonzero_mask: false }],
    median_shape: [32, 32, 32],
    patch_size: [16, 16, 16],
    model: { spec: 'somewhere/tiny.mnx', set: {} },
  });
}

describe('RunFolder', () => {
  it('hashes plans by value: key order, a YAML round trip and the file paths (model, fingerprint) do not count', () => {
    const p = plans();
    const reordered = Object.fromEntries(Object.entries(p).reverse()) as unknown as Plans;
    const loaded = parsePlans(stringifyPlans(p), 'plans.yaml');
    const moved = { ...loaded, model: { spec: 'spec/tiny.mnx', set: {} }, fingerprint: '../fingerprint.json' };
    expect(plansHash(reordered)).toBe(plansHash(p));
    expect(plansHash(loaded)).toBe(plansHash(p));
    expect(plansHash(moved)).toBe(plansHash(p));
    const longer = structuredClone(p);
    longer.training.epochs += 1;
    expect(plansHash(longer)).not.toBe(plansHash(p));
  });

  it('writes a spec run (spec files, plans naming the copy, network.json) that it reads back', () => {
    const dir = join(root, 'spec-run');
    const network = requireNetwork(tiny, { set: ['n_classes=2'], inputSize: [16, 16, 16] });
    RunFolder.write(dir, { plans: plans(), ir: network.ir, network: network.source });
    for (const f of ['plans.yaml', 'model.ir.json', 'network.json', 'dataset.json', 'spec/tiny.mnx', 'spec/mednext.mnx']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(loadPlans(join(dir, 'plans.yaml')).model).toEqual({ spec: 'spec/tiny.mnx', set: { n_classes: 2 } });
    const run = RunFolder.open(dir);
    expect(run.network).toMatchObject({ given: 'spec', set: ['n_classes=2'] });
    expect(run.classes).toBe(2);
    expect(run.folds).toEqual([]);
    // The copied spec compiles to the same network.
    const again = requireNetwork(join(dir, 'spec', 'tiny.mnx'), { set: ['n_classes=2'], inputSize: [16, 16, 16] });
    expect(again.ir.parameters).toEqual(network.ir.parameters);
  });

  it('writes an IR run with plans naming model.ir.json and no spec copy', () => {
    const build = join(root, 'build');
    mkdirSync(build);
    writeFileSync(join(build, 'model.ir.json'), JSON.stringify(requireNetwork(tiny).ir));
    const network = requireNetwork(build);
    expect(network.source).toMatchObject({ given: 'ir', path: join(build, 'model.ir.json'), files: [] });
    const dir = join(root, 'ir-run');
    RunFolder.write(dir, { plans: plans(), ir: network.ir, network: network.source });
    expect(loadPlans(join(dir, 'plans.yaml')).model).toEqual({ spec: 'model.ir.json', set: {} });
    expect(existsSync(join(dir, 'spec'))).toBe(false);
    expect(RunFolder.open(dir).network?.given).toBe('ir');
  });

  it('refuses to write another network or other plans over trained folds, unless forced', () => {
    const dir = join(root, 'spec-run');
    mkdirSync(join(dir, 'fold_0'), { recursive: true });
    writeFileSync(join(dir, 'fold_0', 'checkpoint_latest.json'), '{}');
    const other = requireNetwork(tiny, { set: ['n_classes=2', 'kernel_size=5'], inputSize: [16, 16, 16] });
    expect(() => RunFolder.write(dir, { plans: plans(), ir: other.ir, network: other.source })).toThrow(/the network \(spec\) differs from the one fold\(s\) 0 were trained with/);
    const same = requireNetwork(tiny, { set: ['n_classes=2'], inputSize: [16, 16, 16] });
    const longer = plans();
    longer.training.epochs = 7;
    expect(() => RunFolder.write(dir, { plans: longer, ir: same.ir, network: same.source })).toThrow(/the plans differ/);
    RunFolder.write(dir, { plans: plans(), ir: same.ir, network: same.source });
    RunFolder.write(dir, { plans: longer, ir: other.ir, network: other.source }, { force: true });
    expect(JSON.parse(readFileSync(join(dir, 'network.json'), 'utf8')).set).toEqual(['n_classes=2', 'kernel_size=5']);
  });
});
