/**
 * The training loop (nnU-Net v1's `NetworkTrainer.run_training` with MedNeXt's trainer settings):
 * epochs of training iterations on augmented batches (AdamW, poly lr set per epoch, clipping at
 * global norm 12) then validation iterations without augmentation (loss, pseudo Dice, its moving
 * average picking `checkpoint_best`); `checkpoint_latest` every `checkpoint_every` epochs and when
 * asked to stop; `checkpoint_final` at the end. A resumed run continues exactly where the
 * checkpoint left off: batches depend only on (seed, kind, epoch, index) and the checkpoint holds
 * the weights, optimiser moments and every counter.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { IRModel } from '../../ir/types.js';
import type { Plans } from '../data/plan/plans.js';
import { removeStrayTempFiles, writeFileAtomic } from '../io/atomic.js';
import { repairCheckpoint } from './checkpoint-unit.js';
import type { TensorMap } from '../io/safetensors.js';
import { buildModel, type MnxModel } from '../model/model.js';
import { exportWeights, loadWeights } from '../weights/state-dict.js';
import type { Batch, BatchRequest } from './batch.js';
import { BatchLoader } from './loader.js';
import { deepSupervisionLoss, headWeights } from './loss.js';
import { addCounts, addRegionCounts, ema, emptyCounts, meanDice, pseudoDice } from './metrics.js';
import { clipByGlobalNorm, learningRate, Optimizer } from './optimizer.js';
import { renderProgressSvg, type EpochRecord } from './progress-svg.js';
import { CHECKPOINT_FORMAT, readCheckpoint, writeCheckpoint, type CheckpointName, type TrainState } from './run-dir.js';
import type { Shape3 } from './volume.js';
import { variableGrads } from '../autodiff/backprop.js';
import { NonFiniteLossError, ResumeError } from '../errors.js';

export interface TrainOptions {
  preprocessedDir: string;
  plans: Plans;
  plansHash: string;
  ir: IRModel;
  specHash: string;
  train: string[];
  val: string[];
  fold: string;
  /** The fold folder (RUN_DIR/fold_K). */
  foldDir: string;
  resume: boolean;
  /** Resume even when the spec or plans hash differs. */
  force?: boolean;
  /** Starting weights (PyTorch layout), for a fresh run. */
  initWeights?: TensorMap;
  seed: number;
  /** Loader threads (0: in this thread). */
  workers: number;
  /** Batches built ahead of the training step. */
  prefetch?: number;
  /** Recompute blocks in backprop (`outside_block` IRs only). */
  gradientCheckpointing?: boolean;
  /** Stop (saving checkpoint_latest) once this many epochs are complete, before the schedule ends. */
  stopAfterEpochs?: number;
  /**
   * Called before every write into the fold folder (checkpoints, progress); throwing stops the
   * training without writing (the fold lock's `check`: another training took the fold over).
   */
  beforeWrite?: () => void;
  /** Polled after every iteration; true saves checkpoint_latest and stops. */
  shouldStop?: () => boolean;
  /** A line for the log (also appended to training_log.txt). */
  log?: (line: string) => void;
  /** Per-iteration progress (the CLI draws a bar). */
  onIteration?: (info: { epoch: number; iteration: number; iterations: number; loss: number; itPerSec: number; phase: 'train' | 'val' }) => void;
}

export type TrainOutcome = 'finished' | 'stopped' | 'interrupted';

export interface TrainResult {
  outcome: TrainOutcome;
  state: TrainState;
  /** Weights at the end (PyTorch layout). */
  weights: TensorMap;
}

export { NonFiniteLossError, ResumeError };

/**
 * Output heads' spatial sizes at the patch size (full resolution first): the IR's head sizes scaled
 * from the input size it was compiled at (the same numbers when that is the patch).
 */
export function headShapes(ir: IRModel, patch: Shape3): Shape3[] {
  const input = ir.input.spatial;
  return ir.outputs.map((id, i) => {
    const s = ir.nodes.find((n) => n.id === id)?.out.spatial;
    if (s && s.length === 3 && input && input.length === 3) return s.map((v, a) => Math.round((v * patch[a]!) / input[a]!)) as Shape3;
    // a 2-D network trains on patches of one slice: [1, h, w]
    if (s && s.length === 2 && input && input.length === 2) return [1, Math.round((s[0]! * patch[1]) / input[0]!), Math.round((s[1]! * patch[2]) / input[1]!)];
    return patch.map((d) => Math.max(1, Math.floor(d / 2 ** i))) as Shape3;
  });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function nowIso(): string {
  return new Date().toISOString();
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { plans, ir } = opts;
  const t = plans.training;
  const log = (line: string) => {
    opts.log?.(line);
    appendFileSync(join(opts.foldDir, 'training_log.txt'), `${nowIso()} ${line}\n`);
  };
  mkdirSync(opts.foldDir, { recursive: true });
  // a save killed midway: roll its unit back; temporary files of dead processes: gone
  for (const name of ['checkpoint_latest', 'checkpoint_best', 'checkpoint_final'] as const)
    if (repairCheckpoint(opts.foldDir, name) === 'rolled-back') log(`warning: ${name} was half-saved (interrupted); rolled back to the previous whole one`);
  for (const f of removeStrayTempFiles(opts.foldDir)) log(`removed stray temporary file ${f}`);
  const patch = t.patch_size as Shape3;
  const allHeads = headShapes(ir, patch);
  const nHeads = t.deep_supervision.enabled ? allHeads.length : 1;
  const weights = headWeights(t.deep_supervision.weights, nHeads);
  const heads = allHeads.slice(0, nHeads);
  const regions = plans.dataset.regions?.map((r) => r.labels);

  const model = buildModel(ir, { seed: opts.seed });
  const vars = model.trainableVariables();
  const names = ir.parameters.filter((p) => p.trainable && p.role !== 'dummy').map((p) => p.name);
  const optimizer = new Optimizer(vars, names, t.optimizer);

  let state: TrainState = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    epoch: 0,
    iteration: 0,
    partial_loss_sum: 0,
    epochs: t.epochs,
    iterations_per_epoch: t.iterations_per_epoch,
    optimizer_steps: 0,
    lr: t.optimizer.lr,
    ema_pseudo_dice: null,
    best_ema_pseudo_dice: null,
    best_epoch: null,
    rng: { scheme: 'per-batch sfc32', seed: opts.seed },
    spec_hash: opts.specHash,
    plans_hash: opts.plansHash,
    fold: opts.fold,
    history: [],
    saved_at: '',
  };
  if (opts.resume) {
    const ck = readCheckpoint(opts.foldDir, 'checkpoint_latest');
    if (!ck) throw new ResumeError(`${opts.foldDir}: no checkpoint_latest to continue from`);
    const problems: string[] = [];
    if (ck.state.spec_hash !== opts.specHash) problems.push('the network (spec) differs from the one it was trained with');
    if (ck.state.plans_hash !== opts.plansHash) problems.push('the plans differ from the ones it was trained with');
    if (ck.state.rng.seed !== opts.seed) problems.push(`the seed differs (checkpoint ${ck.state.rng.seed}, now ${opts.seed})`);
    if (problems.length > 0 && !opts.force) throw new ResumeError(`${opts.foldDir}: cannot continue: ${problems.join('; ')} (--force continues anyway)`);
    for (const p of problems) log(`warning: continuing although ${p}`);
    loadWeights(model, ck.weights, `${opts.foldDir}/checkpoint_latest.weights.safetensors`);
    optimizer.importState(ck.optimizer, `${opts.foldDir}/checkpoint_latest.state.safetensors`);
    state = { ...ck.state, spec_hash: opts.specHash, plans_hash: opts.plansHash, epochs: t.epochs, iterations_per_epoch: t.iterations_per_epoch };
    log(`continuing from epoch ${state.epoch}${state.iteration ? `, iteration ${state.iteration}` : ''} (${state.optimizer_steps} optimiser steps done)`);
  } else if (opts.initWeights) {
    loadWeights(model, opts.initWeights, 'initial weights');
  }

  const save = (name: CheckpointName) => {
    opts.beforeWrite?.();
    state.saved_at = nowIso();
    state.optimizer_steps = optimizer.step;
    writeCheckpoint(opts.foldDir, name, exportWeights(model), optimizer.exportState(), state);
  };
  const writeProgress = () => {
    opts.beforeWrite?.();
    writeFileAtomic(join(opts.foldDir, 'progress.json'), JSON.stringify({ epochs: t.epochs, best_epoch: state.best_epoch, history: state.history }, null, 2) + '\n');
    writeFileAtomic(join(opts.foldDir, 'progress.svg'), renderProgressSvg(state.history, t.epochs, `${ir.name} fold ${opts.fold}`));
  };

  const loader = new BatchLoader(
    {
      dir: opts.preprocessedDir,
      train: opts.train,
      val: opts.val,
      training: t,
      augmentation: plans.augmentation,
      useMaskForNorm: plans.preprocessing.normalization.map((n) => !!n.use_nonzero_mask),
      ignoreLabel: plans.dataset.ignore_label,
      headShapes: heads,
      seed: opts.seed,
    },
    opts.workers,
  );
  const useCheckpointing = !!opts.gradientCheckpointing;
  // a 2-D network sees the one-slice patches [B, 1, h, w, C] as [B, h, w, C] (the same memory)
  const drop = ir.spatialDims === 2 ? 1 : 0;
  const toTensors = (b: Batch) => ({
    x: tf.tensor(b.input, [b.inputShape[0], ...b.inputShape.slice(1 + drop)], 'float32'),
    ys: b.targets.map((tg, h) => tf.tensor(Int32Array.from(tg), [b.inputShape[0], ...b.targetShapes[h]!.slice(drop)], 'int32')),
  });

  let outcome: TrainOutcome = 'finished';
  try {
    const lastEpoch = Math.min(t.epochs, opts.stopAfterEpochs ?? t.epochs);
    for (let epoch = state.epoch; epoch < lastEpoch; epoch++) {
      const t0 = performance.now();
      const lr = learningRate(t.lr_schedule, t.optimizer.lr, epoch, t.epochs);
      state.lr = lr;
      const startIt = epoch === state.epoch ? state.iteration : 0;
      const requests: BatchRequest[] = [];
      for (let i = startIt; i < t.iterations_per_epoch; i++) requests.push({ kind: 'train', epoch, index: i });
      for (let i = 0; i < t.val_iterations_per_epoch; i++) requests.push({ kind: 'val', epoch, index: i });
      const stream = loader.stream(requests, opts.prefetch ?? Math.max(2, opts.workers * 2));
      let lossSum = epoch === state.epoch ? state.partial_loss_sum : 0;
      let it = startIt;
      const tTrain = performance.now();
      // ---- training iterations
      while (it < t.iterations_per_epoch) {
        const batch = (await stream.next()).value as Batch;
        const { x, ys } = toTensors(batch);
        const { value, grads } = variableGrads(() => deepSupervisionLoss(model.forward(x, { training: true, checkpoint: useCheckpointing }), ys, weights, t.loss, regions), vars);
        const loss = (await value.data())[0]!;
        if (!Number.isFinite(loss)) {
          tf.dispose([x, ...ys, value, ...Object.values(grads)]);
          throw new NonFiniteLossError(`epoch ${epoch}, iteration ${it}: the loss is ${loss}; stopping (the last good checkpoints are kept as they are)`);
        }
        // A head of weight 0 is left out of the loss, so its parameters get no gradient (null) and are not updated.
        const { grads: clipped, norm } = clipByGlobalNorm(vars.map((v) => grads[v.name] ?? null), t.grad_clip_norm);
        optimizer.apply(clipped, lr);
        tf.dispose([x, ...ys, value, norm, ...clipped.filter((g): g is tf.Tensor => g !== null), ...Object.values(grads)]);
        lossSum += loss;
        it++;
        opts.onIteration?.({ epoch, iteration: it, iterations: t.iterations_per_epoch, loss, itPerSec: (it - startIt) / ((performance.now() - tTrain) / 1000), phase: 'train' });
        // One turn of the event loop per iteration: signal handlers (SIGTERM, SIGINT) run here, not
        // only when an epoch's batches happen to wait for a worker.
        await yieldToEventLoop();
        if (opts.shouldStop?.() && it < t.iterations_per_epoch) {
          state.epoch = epoch;
          state.iteration = it;
          state.partial_loss_sum = lossSum;
          save('checkpoint_latest');
          await stream.return(undefined);
          log(`stopped at epoch ${epoch}, iteration ${it}; saved checkpoint_latest (continue with --continue)`);
          outcome = 'interrupted';
          return { outcome, state, weights: exportWeights(model) };
        }
      }
      // ---- validation iterations
      const outChannels = ir.nodes.find((n) => n.id === ir.outputs[0])!.out.channels;
      const counts = emptyCounts(regions ? regions.length : Math.max(1, outChannels - 1));
      let valLossSum = 0;
      const tVal = performance.now();
      for (let v = 0; v < t.val_iterations_per_epoch; v++) {
        await yieldToEventLoop();
        if (opts.shouldStop?.()) {
          // the epoch's training is complete: resuming runs its validation again from the start
          state.epoch = epoch;
          state.iteration = t.iterations_per_epoch;
          state.partial_loss_sum = lossSum;
          save('checkpoint_latest');
          await stream.return(undefined);
          log(`stopped at epoch ${epoch}, validation iteration ${v} (training iterations of the epoch done); saved checkpoint_latest (continue with --continue)`);
          return { outcome: 'interrupted', state, weights: exportWeights(model) };
        }
        const batch = (await stream.next()).value as Batch;
        const { x, ys } = toTensors(batch);
        const outs = model.forward(x);
        const l = deepSupervisionLoss(outs, ys, weights, t.loss, regions);
        valLossSum += (await l.data())[0]!;
        if (regions) addRegionCounts(counts, outs[0]!, ys[0]!, regions);
        else addCounts(counts, outs[0]!, ys[0]!);
        tf.dispose([x, ...ys, ...outs, l]);
        opts.onIteration?.({ epoch, iteration: v + 1, iterations: t.val_iterations_per_epoch, loss: valLossSum / (v + 1), itPerSec: (v + 1) / ((performance.now() - tVal) / 1000), phase: 'val' });
      }
      await stream.return(undefined);
      const perClass = pseudoDice(counts);
      const dice = t.val_iterations_per_epoch > 0 ? meanDice(perClass) : NaN;
      state.ema_pseudo_dice = Number.isNaN(dice) ? state.ema_pseudo_dice : ema(state.ema_pseudo_dice, dice, t.best_metric_ema);
      const record: EpochRecord = {
        epoch,
        train_loss: lossSum / t.iterations_per_epoch,
        val_loss: t.val_iterations_per_epoch > 0 ? valLossSum / t.val_iterations_per_epoch : null,
        pseudo_dice: Number.isNaN(dice) ? null : dice,
        pseudo_dice_per_class: perClass.map((d) => (Number.isNaN(d) ? null : d)),
        ema_pseudo_dice: state.ema_pseudo_dice,
        lr,
        seconds: (performance.now() - t0) / 1000,
      };
      state.history.push(record);
      state.epoch = epoch + 1;
      state.iteration = 0;
      state.partial_loss_sum = 0;
      let best = false;
      if (state.ema_pseudo_dice !== null && (state.best_ema_pseudo_dice === null || state.ema_pseudo_dice > state.best_ema_pseudo_dice)) {
        state.best_ema_pseudo_dice = state.ema_pseudo_dice;
        state.best_epoch = epoch;
        best = true;
        save('checkpoint_best');
      }
      const f = (v: number | null) => (v === null ? '—' : v.toFixed(4));
      log(
        `epoch ${epoch + 1}/${t.epochs}: train loss ${f(record.train_loss)}, val loss ${f(record.val_loss)}, pseudo Dice ${f(record.pseudo_dice)} [${record.pseudo_dice_per_class.map(f).join(', ')}], EMA ${f(state.ema_pseudo_dice)}${best ? ' (new best)' : ''}, lr ${lr.toExponential(3)}, ${record.seconds.toFixed(1)} s`,
      );
      writeProgress();
      const stopNow = opts.shouldStop?.() ?? false;
      if (state.epoch % t.checkpoint_every === 0 || state.epoch === lastEpoch || stopNow) save('checkpoint_latest');
      if (stopNow && state.epoch < t.epochs) {
        log(`stopped after epoch ${state.epoch}; saved checkpoint_latest (continue with --continue)`);
        return { outcome: 'interrupted', state, weights: exportWeights(model) };
      }
    }
    if (state.epoch >= t.epochs) {
      save('checkpoint_final');
      log(`finished ${t.epochs} epochs; saved checkpoint_final`);
    } else {
      outcome = 'stopped';
      log(`stopped after epoch ${state.epoch} of ${t.epochs} as asked; saved checkpoint_latest`);
    }
    return { outcome, state, weights: exportWeights(model) };
  } finally {
    await loader.close();
    optimizer.dispose();
    model.dispose();
  }
}

export type { MnxModel };
