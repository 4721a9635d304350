/**
 * nnU-Net's training loss, `DC_and_CE_loss` (v1 `training/loss_functions/dice_loss.py`): soft Dice
 * on softmax probabilities, dc = (2·tp + s) / (2·tp + fp + fn + s + 1e-8), loss −mean(dc) over the
 * foreground classes (background only with `do_background`), sums over the batch axis too with
 * `batch_dice`; plus cross entropy, weighted 1:1 by default. Voxels labelled −1 (the dataset's ignore
 * label; the store's −1 outside the mask is background by then) count in
 * neither. Deep supervision sums the heads' losses with weights normalised to 1 over the heads the
 * model has.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Plans } from '../data/plan/plans.js';

export type LossConfig = Plans['training']['loss'];

/** Loss of one head. `logits` [B, …spatial, K] channels-last; `target` int32 [B, …spatial], −1 = ignore. */
export function diceCeLoss(logits: tf.Tensor, target: tf.Tensor, cfg: LossConfig): tf.Scalar {
  return tf.tidy(() => {
    const K = logits.shape[logits.rank - 1]!;
    const valid = tf.expandDims(tf.cast(tf.greaterEqual(target, 0), 'float32'), -1);
    const onehot = tf.mul(tf.oneHot(tf.maximum(target, tf.scalar(0, 'int32')), K), valid);
    const nValid = tf.maximum(tf.sum(valid), 1);
    const ce = tf.div(tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)))), nValid);
    const probs = tf.mul(tf.softmax(logits), valid);
    const spatial = Array.from({ length: logits.rank - 2 }, (_, i) => i + 1);
    const axes = cfg.batch_dice ? [0, ...spatial] : spatial;
    const tp = tf.sum(tf.mul(probs, onehot), axes);
    const fp = tf.sub(tf.sum(probs, axes), tp);
    const fn = tf.sub(tf.sum(onehot, axes), tp);
    const s = cfg.smooth;
    let dc = tf.div(tf.add(tf.mul(tp, 2), s), tf.add(tf.add(tf.add(tf.mul(tp, 2), fp), tf.add(fn, s)), 1e-8));
    if (!cfg.do_background) dc = cfg.batch_dice ? tf.slice(dc, [1], [K - 1]) : tf.slice(dc, [0, 1], [-1, K - 1]);
    const dice = tf.neg(tf.mean(dc));
    return tf.add(tf.mul(ce, cfg.weight_ce), tf.mul(dice, cfg.weight_dice)) as tf.Scalar;
  });
}

/** Region masks [B, …spatial, R] (float 0/1) from a label map: region r = its labels' union. */
export function regionMasks(target: tf.Tensor, regions: readonly (readonly number[])[]): tf.Tensor {
  return tf.tidy(() =>
    tf.stack(
      regions.map((labels) => tf.cast(labels.map((v) => tf.equal(target, v)).reduce((a, b) => tf.logicalOr(a, b)), 'float32')),
      -1,
    ),
  );
}

/**
 * Region-based loss, nnU-Net v1's `DC_and_BCE_loss` as its BraTS-regions trainer configures it
 * (`dice_loss.py` lines 430–455; `nnUNetTrainerV2BraTSRegions.py` line 73): BCE with logits (mean
 * over every voxel and region) plus soft Dice on sigmoid probabilities averaged over every region
 * (the region trainer's do_bg true; smooth and batch_dice from the plans, which the planner sets
 * to the trainer's 0 and false). Voxels
 * labelled −1 (the dataset's ignore label) count in neither.
 */
export function diceBceLoss(logits: tf.Tensor, target: tf.Tensor, regions: readonly (readonly number[])[], cfg: LossConfig): tf.Scalar {
  return tf.tidy(() => {
    const R = logits.shape[logits.rank - 1]!;
    if (R !== regions.length) throw new Error(`region loss: the network has ${R} outputs for ${regions.length} regions`);
    const valid = tf.expandDims(tf.cast(tf.greaterEqual(target, 0), 'float32'), -1);
    const y = tf.mul(regionMasks(target, regions), valid);
    const nValid = tf.maximum(tf.mul(tf.sum(valid), R), 1);
    // BCE with logits, stable: max(x, 0) − x·y + log(1 + e^−|x|)
    const bce = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, y)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    const ce = tf.div(tf.sum(tf.mul(bce, valid)), nValid);
    const probs = tf.mul(tf.sigmoid(logits), valid);
    const spatial = Array.from({ length: logits.rank - 2 }, (_, i) => i + 1);
    const axes = cfg.batch_dice ? [0, ...spatial] : spatial;
    const tp = tf.sum(tf.mul(probs, y), axes);
    const fp = tf.sub(tf.sum(probs, axes), tp);
    const fn = tf.sub(tf.sum(y, axes), tp);
    const s = cfg.smooth;
    const dc = tf.div(tf.add(tf.mul(tp, 2), s), tf.add(tf.add(tf.add(tf.mul(tp, 2), fp), tf.add(fn, s)), 1e-8));
    const dice = tf.neg(tf.mean(dc));
    return tf.add(tf.mul(ce, cfg.weight_ce), tf.mul(dice, cfg.weight_dice)) as tf.Scalar;
  });
}

/** The first `heads` deep-supervision weights, normalised to sum 1 (one head: [1]). */
export function headWeights(weights: readonly number[], heads: number): number[] {
  if (heads === 1) return [1];
  if (weights.length < heads) throw new Error(`deep supervision: ${weights.length} weight(s) for ${heads} output heads`);
  const w = weights.slice(0, heads);
  const sum = w.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) throw new Error('deep supervision: the weights of the heads sum to 0');
  return w.map((v) => v / sum);
}

/** Weighted sum of the heads' losses (heads with weight 0 are skipped). */
export function deepSupervisionLoss(outputs: tf.Tensor[], targets: tf.Tensor[], weights: readonly number[], cfg: LossConfig, regions?: readonly (readonly number[])[]): tf.Scalar {
  return tf.tidy(() => {
    const terms: tf.Tensor[] = [];
    weights.forEach((w, i) => {
      if (w === 0) return;
      const l = cfg.name === 'dice_bce' ? diceBceLoss(outputs[i]!, targets[i]!, regions ?? [], cfg) : diceCeLoss(outputs[i]!, targets[i]!, cfg);
      terms.push(tf.mul(l, w));
    });
    return tf.addN(terms) as tf.Scalar;
  });
}
