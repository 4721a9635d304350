import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeTestCase } from '../../runtime/data/dataset/index.js';
import { savePlans } from '../../runtime/data/plan/index.js';
import { readSafetensors } from '../../runtime/io/safetensors.js';
import { makePreprocessedSpheres } from '../../runtime/train/testing.js';
import { main } from '../main.js';
import { mnxcInProcess } from '../../tests/cli.js';

const mnxc = mnxcInProcess;
afterEach(() => vi.restoreAllMocks());

const root = mkdtempSync(join(tmpdir(), 'mnxc-cli-train-'));
let pre: string;
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  const made = await makePreprocessedSpheres(root);
  pre = made.dir;
  savePlans(join(pre, 'plans.yaml'), { ...made.plans, model: { spec: resolve('examples/tiny.mnx'), set: {} } });
}, 120_000);

describe('mnxc train', () => {
  it('--help describes the command', async () => {
    const r = await mnxc('train', '--help');
    expect(r.code).toBe(0);
    expect(r.out + r.err).toMatch(/Usage: mnxc train PREPROCESSED_DIR --fold/);
  });

  it('refuses a bad command line (exit 2) and a bad folder (exit 1) with a message, no stack trace', async () => {
    const noFold = await mnxc('train', pre);
    expect(noFold.code).toBe(2);
    expect(noFold.err).toMatch(/--fold/);
    const wasm = await mnxc('train', pre, '--fold', '0', '--backend', 'wasm');
    expect(wasm.code).toBe(2);
    const missing = await mnxc('train', join(root, 'nope'), '--fold', '0');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope: no such folder/);
    expect(missing.err).not.toMatch(/\n\s+at /);
  });

  it('trains fold 0 one epoch into a complete run folder, refuses to overwrite it, and continues it', async () => {
    const run = join(root, 'run');
    const args = ['train', pre, '--fold', '0', '-o', run, '--epochs', '2', '--iterations', '1', '--val-iterations', '1', '--workers', '0', '--until-epoch', '1'];
    const r = await mnxc(...args);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^backend (tensorflow|cpu);/m);
    expect(r.err).toMatch(/epoch 1\/2: train loss/);
    for (const f of ['plans.yaml', 'model.ir.json', 'dataset.json', 'spec/tiny.mnx', 'spec/mednext.mnx', 'fold_0/checkpoint_latest.json', 'fold_0/progress.svg', 'fold_0/training_log.txt'])
      expect(existsSync(join(run, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(run, 'dataset.json'), 'utf8')).labels).toEqual({ background: 0, sphere: 1 });
    expect(existsSync(join(pre, 'splits_final.json'))).toBe(true);
    const again = await mnxc(...args);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/holds a run already; pass --continue/);
    const cont = await mnxc('train', pre, '--fold', '0', '-o', run, '--epochs', '2', '--iterations', '1', '--val-iterations', '1', '--workers', '0', '--continue');
    expect(cont.code, cont.err).toBe(0);
    expect(cont.err).toMatch(/continuing from epoch 1/);
    expect(cont.out).toMatch(/finished after 2 epoch\(s\)/);
    expect(readSafetensors(join(run, 'fold_0/checkpoint_final.weights.safetensors')).size).toBeGreaterThan(100);
    // at the end: full validation of the fold's cases and the post-processing across the folds so far
    expect(cont.out).toMatch(/^validation: Dice 1 \d\.\d{4} \(mean \d\.\d{4}\) → /m);
    const summary = JSON.parse(readFileSync(join(run, 'fold_0/validation_raw/summary.json'), 'utf8'));
    expect(Object.keys(summary.mean)).toEqual(['1']);
    const pp = JSON.parse(readFileSync(join(run, 'postprocessing.json'), 'utf8'));
    expect(pp).toMatchObject({ format: 'mnxc-postprocessing', folds: ['0'], min_valid_object_sizes: null });
    expect(Array.isArray(pp.for_which_classes)).toBe(true);
    // predict applies it by default (and refuses an unknown mode)
    const images = join(root, 'Dataset900_Spheres', 'imagesTr', 'case_000_0000.nii.gz');
    const pred = await mnxc('predict', '-i', images, '-o', join(root, 'pred'), '-m', run, '--no-tta');
    expect(pred.code, pred.err).toBe(0);
    expect(existsSync(join(root, 'pred', 'case_000.nii.gz'))).toBe(true);
    expect((await mnxc('predict', '-i', images, '-o', join(root, 'pred2'), '-m', run, '--postprocess', 'maybe')).code).toBe(2);
    const changed = await mnxc('train', pre, '--fold', '0', '-o', run, '--epochs', '3', '--iterations', '1', '--workers', '0', '--continue');
    expect(changed.code).toBe(1);
    expect(changed.err).toMatch(/the plans differ/);
  });

  it('trains from a compiled model (mnxc compile -o DIR, then --spec DIR), records it, continues from the run without --spec, and predicts with it', async () => {
    const build = join(root, 'build');
    expect((await mnxc('compile', 'examples/tiny.mnx', '-o', build)).code).toBe(0);
    const run = join(root, 'run-ir');
    const args = ['train', pre, '--fold', '0', '-o', run, '--epochs', '2', '--iterations', '1', '--val-iterations', '1', '--workers', '0'];
    const r = await mnxc(...args, '--spec', build, '--until-epoch', '1');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(readFileSync(join(run, 'network.json'), 'utf8'))).toMatchObject({ given: 'ir', path: join(build, 'model.ir.json') });
    expect(readFileSync(join(run, 'plans.yaml'), 'utf8')).toMatch(/^ {2}spec: model\.ir\.json$/m);
    expect(existsSync(join(run, 'spec'))).toBe(false);
    expect(readFileSync(join(run, 'model.ir.json'), 'utf8')).toBe(JSON.stringify(JSON.parse(readFileSync(join(build, 'model.ir.json'), 'utf8'))) + '\n');
    const cont = await mnxc(...args, '--continue');
    expect(cont.code, cont.err).toBe(0);
    expect(cont.out).toMatch(/finished after 2 epoch\(s\)/);
    // mnxc predict runs the run trained from the IR
    writeTestCase(root, { id: 'ball', shape: [20, 20, 20], channels: [Float32Array.from({ length: 20 ** 3 }, (_, i) => 1 + (i % 7))], label: null }, 'Ts');
    const pred = await mnxc('predict', '-i', join(root, 'imagesTs'), '-o', join(root, 'pred-ir'), '-m', run, '--no-tta', '--backend', 'cpu');
    expect(pred.code, pred.err).toBe(0);
    expect(existsSync(join(root, 'pred-ir', 'ball.nii.gz'))).toBe(true);
    const json = await mnxc(...args, '-o', join(root, 'run-ir-json'), '--spec', join(build, 'model.ir.json'), '--until-epoch', '1');
    expect(json.code, json.err).toBe(0);
    const bad = join(root, 'bad.ir.json');
    writeFileSync(bad, '{"irVersion": 1}');
    const invalid = await mnxc(...args, '-o', join(root, 'run-bad'), '--spec', bad);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/bad\.ir\.json: not a valid model IR/);
    expect(invalid.err).not.toMatch(/\n\s+at /);
  });
});
