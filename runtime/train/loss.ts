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
export function deepSupervisionLoss(outputs: tf.Tensor[], targets: tf.Tensor[], weights: readonly number[], cfg: LossConfig): tf.Scalar {
  return tf.tidy(() => {
    const terms: tf.Tensor[] = [];
    weights.forEach((w, i) => {
      if (w !== 0) terms.push(tf.mul(diceCeLoss(outputs[i]!, targets[i]!, cfg), w));
    });
    return tf.addN(terms) as tf.Scalar;
  });
}
