import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import type { IRModel } from '../../ir/types.js';
import { useBackend } from '../backend.js';
import type { Plans } from '../data/plan/plans.js';
import { readSafetensors, serializeSafetensors, type TensorMap } from '../io/safetensors.js';
import { BatchMaker, type BatchConfig } from './batch.js';
import { BatchLoader } from './loader.js';
import { acquireFoldLock, FoldLockError, LOCK_FILE } from './fold-lock.js';
import { specHash } from './run-dir.js';
import { makePreprocessedSpheres } from './testing.js';
import { headShapes, NonFiniteLossError, ResumeError, train, type TrainOptions } from './trainer.js';

/**
 * End-to-end training on a generated, really preprocessed dataset with the tiny MedNeXt (width 4,
 * 16³ patches, batch 2). Backend: `auto` (the tensorflow backend when it is built, else cpu).
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-train-'));
let dir: string;
let basePlans: Plans;
let ids: string[];
let ir: IRModel;
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  const backend = await useBackend('auto');
  // wasm has no depthwise backprop; training needs cpu or tensorflow
  if (backend === 'wasm') await useBackend('cpu');
  ({ dir, plans: basePlans, ids } = await makePreprocessedSpheres(root));
  ir = compileFile('examples/tiny.mnx', { inputSize: [16, 16, 16] }).ir!;
}, 120_000);

function plansWith(edit: (p: Plans) => void): Plans {
  const p = structuredClone(basePlans);
  edit(p);
  return p;
}

function options(plans: Plans, foldDir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    preprocessedDir: dir, plans, plansHash: JSON.stringify(plans.training), ir, specHash: specHash(ir),
    train: ids.slice(0, 4), val: ids.slice(4), fold: '0', foldDir: join(root, foldDir), resume: false, seed: 7, workers: 0, ...extra,
  };
}

const bytes = (w: TensorMap) => Buffer.from(serializeSafetensors(w));

describe('batches', () => {
  const config = (): BatchConfig => ({
    dir, train: ids.slice(0, 4), val: ids.slice(4), training: basePlans.training, augmentation: basePlans.augmentation,
    headShapes: headShapes(ir, [16, 16, 16]), seed: 3,
  });

  it('a worker thread builds exactly the batch the main thread would (same request → same bytes)', async () => {
    const loader = new BatchLoader(config(), 1);
    try {
      const maker = new BatchMaker(config());
      const reqs = [{ kind: 'train' as const, epoch: 2, index: 5 }, { kind: 'val' as const, epoch: 0, index: 1 }];
      let k = 0;
      for await (const b of loader.stream(reqs, 2)) {
        const local = maker.make(reqs[k++]!);
        expect(b.cases).toEqual(local.cases);
        expect(Buffer.from(b.input.buffer)).toEqual(Buffer.from(local.input.buffer));
        b.targets.forEach((t, h) => expect(Buffer.from(t.buffer)).toEqual(Buffer.from(local.targets[h]!.buffer)));
      }
      expect(k).toBe(2);
    } finally {
      await loader.close();
    }
  });

  it('the oversampled sample (j ≥ round(B·0.67)) always contains foreground; targets shrink per head', () => {
    const maker = new BatchMaker(config());
    for (let i = 0; i < 6; i++) {
      const b = maker.make({ kind: 'val', epoch: 0, index: i });
      expect(b.inputShape).toEqual([2, 16, 16, 16, 1]);
      expect(b.targets.map((t) => t.length)).toEqual([2 * 4096, 2 * 512, 2 * 64, 2 * 8, 2 * 1]);
      expect(b.targets[0]!.subarray(4096).some((v) => v === 1)).toBe(true);
    }
  });
});

describe('training', () => {
  it('learns the spheres: validation pseudo Dice well above chance, run files written, no tensor leak', async () => {
    const plans = plansWith((p) => {
      Object.assign(p.training, { epochs: 3, iterations_per_epoch: 4, val_iterations_per_epoch: 1 });
      p.training.optimizer.lr = 2e-2;
      // spatial and intensity augmentation off so a few iterations suffice (each is tested alone)
      for (const k of ['rotation', 'scaling', 'gaussian_noise', 'gaussian_blur', 'brightness', 'contrast', 'low_resolution', 'gamma_inverted', 'gamma'] as const) p.augmentation[k].p = 0;
    });
    const counts: number[] = [];
    const r = await train(options(plans, 'learn/fold_0', { workers: 1, onIteration: (i) => i.phase === 'train' && counts.push(tf.memory().numTensors) }));
    expect(r.outcome).toBe('finished');
    const dice = r.state.history.map((h) => h.pseudo_dice!);
    // chance: predicting every voxel as sphere gives 2f/(1+f) with f ≈ 0.1 foreground → ≈ 0.2
    expect(dice[dice.length - 1]).toBeGreaterThan(0.6);
    expect(r.state.history[2]!.train_loss).toBeLessThan(r.state.history[0]!.train_loss);
    expect(new Set(counts).size).toBe(1);
    const fold = join(root, 'learn/fold_0');
    for (const f of ['checkpoint_final', 'checkpoint_best', 'checkpoint_latest'])
      for (const ext of ['.weights.safetensors', '.state.safetensors', '.json']) expect(existsSync(join(fold, f + ext)), f + ext).toBe(true);
    const w = readSafetensors(join(fold, 'checkpoint_final.weights.safetensors'));
    expect([...w.keys()].sort()).toEqual(ir.parameters.map((p) => p.name).sort());
    const svg = readFileSync(join(fold, 'progress.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toMatch(/<polyline points="[\d.]+,[\d.]+ /);
    expect(JSON.parse(readFileSync(join(fold, 'progress.json'), 'utf8')).history).toHaveLength(3);
    expect(r.state.history.map((h) => h.lr)).toEqual([0, 1, 2].map((e) => 2e-2 * (1 - e / 3) ** 0.9));
    expect(readFileSync(join(fold, 'training_log.txt'), 'utf8')).toMatch(/epoch 3\/3: train loss/);
  });

  it('resume is exact: interrupted mid-epoch, stopped after epoch 1, continued → the same weights as one run', async () => {
    const plans = plansWith((p) => Object.assign(p.training, { epochs: 2, iterations_per_epoch: 2, val_iterations_per_epoch: 1 }));
    const whole = await train(options(plans, 'whole/fold_0'));
    let asked = 0;
    const a = await train(options(plans, 'parts/fold_0', { shouldStop: () => ++asked === 1 }));
    expect(a.outcome).toBe('interrupted');
    expect(a.state).toMatchObject({ epoch: 0, iteration: 1 });
    const b = await train(options(plans, 'parts/fold_0', { resume: true, stopAfterEpochs: 1 }));
    expect(b.outcome).toBe('stopped');
    expect(b.state.epoch).toBe(1);
    const c = await train(options(plans, 'parts/fold_0', { resume: true }));
    expect(c.outcome).toBe('finished');
    expect(bytes(c.weights).equals(bytes(whole.weights))).toBe(true);
    expect(c.state.history).toEqual(whole.state.history.map((h, i) => ({ ...h, seconds: c.state.history[i]!.seconds })));
    expect(c.state.optimizer_steps).toBe(4);
    // a different plan is refused
    const other = plansWith((p) => Object.assign(p.training, { epochs: 2, iterations_per_epoch: 2, val_iterations_per_epoch: 1, grad_clip_norm: 5 }));
    await expect(train(options(other, 'parts/fold_0', { resume: true }))).rejects.toThrow(ResumeError);
  });

  it('a stop asked during validation is answered before the next validation iteration, and resumes exactly', async () => {
    const plans = plansWith((p) => Object.assign(p.training, { epochs: 2, iterations_per_epoch: 2, val_iterations_per_epoch: 2 }));
    const whole = await train(options(plans, 'vwhole/fold_0'));
    let inVal = false;
    const a = await train(options(plans, 'vparts/fold_0', { shouldStop: () => inVal, onIteration: (i) => (inVal = i.phase === 'val') }));
    expect(a.outcome).toBe('interrupted');
    expect(a.state).toMatchObject({ epoch: 0, iteration: 2 }); // the epoch's training done, its validation not
    const b = await train(options(plans, 'vparts/fold_0', { resume: true }));
    expect(b.outcome).toBe('finished');
    expect(bytes(b.weights).equals(bytes(whole.weights))).toBe(true);
    expect(b.state.history.map((h) => h.val_loss)).toEqual(whole.state.history.map((h) => h.val_loss));
  });

  it('a training whose fold lock another one took over stops at its next write and writes nothing more', async () => {
    const plans = plansWith((p) => Object.assign(p.training, { epochs: 3, iterations_per_epoch: 1, val_iterations_per_epoch: 0, checkpoint_every: 1 }));
    const foldDir = join(root, 'lost/fold_0');
    const lock = acquireFoldLock(foldDir, 'train');
    const other = { host: 'other.example', pid: 4242, started: 'now', job: 'train-fold_0-x' };
    let epoch = 0;
    const run = train(
      options(plans, 'lost/fold_0', {
        beforeWrite: lock.check,
        onIteration: (i) => {
          // during epoch 2 (the third; epochs count from 0), another worker takes the fold over (as acquireFoldLock does for an expired queue job)
          if (i.epoch === 2 && epoch++ === 0) writeFileSync(join(foldDir, LOCK_FILE), JSON.stringify(other));
        },
      }),
    );
    await expect(run).rejects.toThrow(/no longer holds the fold's lock — it is held by process 4242 on host other\.example/);
    await expect(run).rejects.toBeInstanceOf(FoldLockError);
    const latest = JSON.parse(readFileSync(join(foldDir, 'checkpoint_latest.json'), 'utf8'));
    expect(latest.epoch).toBe(2); // the checkpoint after epochs 0 and 1 (continue with epoch 2) stands; epoch 2's was never written
    expect(JSON.parse(readFileSync(join(foldDir, 'progress.json'), 'utf8')).history).toHaveLength(2);
    lock.release(); // does not remove the other's lock
    expect(existsSync(join(foldDir, LOCK_FILE))).toBe(true);
  });

  it('a non-finite loss stops the run with a message and writes no checkpoint', async () => {
    const plans = plansWith((p) => Object.assign(p.training, { epochs: 1, iterations_per_epoch: 1, val_iterations_per_epoch: 0 }));
    const nan: TensorMap = new Map(ir.parameters.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: new Float32Array(p.shape.reduce((x, y) => x * y, 1)).fill(NaN) }]));
    await expect(train(options(plans, 'nan/fold_0', { initWeights: nan }))).rejects.toThrow(NonFiniteLossError);
    expect(existsSync(join(root, 'nan/fold_0/checkpoint_latest.json'))).toBe(false);
  });
});
