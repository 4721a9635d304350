/**
 * nnU-Net's online validation metric: hard predictions (argmax of the full-resolution head) give
 * per-foreground-class tp, fp, fn, summed over all validation batches of an epoch; the "pseudo
 * Dice" per class is 2tp / (2tp + fp + fn), their mean (classes with no voxels at all skipped) is
 * the epoch's value, and its exponential moving average picks the best checkpoint.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface Counts {
  tp: number[];
  fp: number[];
  fn: number[];
}

export function emptyCounts(foregroundClasses: number): Counts {
  return { tp: new Array(foregroundClasses).fill(0), fp: new Array(foregroundClasses).fill(0), fn: new Array(foregroundClasses).fill(0) };
}

/** Adds the hard-prediction counts of one batch (`logits` [B, …, K], `target` int32 [B, …], −1 ignored). */
export function addCounts(counts: Counts, logits: tf.Tensor, target: tf.Tensor): void {
  const K = logits.shape[logits.rank - 1]!;
  const [tp, fp, fn] = tf.tidy(() => {
    const valid = tf.expandDims(tf.cast(tf.greaterEqual(target, 0), 'float32'), -1);
    const pred = tf.mul(tf.oneHot(tf.argMax(logits, -1), K), valid);
    const gt = tf.mul(tf.oneHot(tf.maximum(target, tf.scalar(0, 'int32')), K), valid);
    const axes = Array.from({ length: logits.rank - 1 }, (_, i) => i);
    const tp = tf.sum(tf.mul(pred, gt), axes);
    return [tp, tf.sub(tf.sum(pred, axes), tp), tf.sub(tf.sum(gt, axes), tp)];
  });
  const [a, b, c] = [tp!.dataSync(), fp!.dataSync(), fn!.dataSync()];
  tf.dispose([tp!, fp!, fn!]);
  for (let k = 1; k < K; k++) {
    counts.tp[k - 1]! += a[k]!;
    counts.fp[k - 1]! += b[k]!;
    counts.fn[k - 1]! += c[k]!;
  }
}

/**
 * The region trainer's online counts (`nnUNetTrainerV2BraTSRegions.run_online_evaluation`): each
 * region's sigmoid thresholded at 0.5 (logit > 0) against its mask; −1 voxels left out.
 */
export function addRegionCounts(counts: Counts, logits: tf.Tensor, target: tf.Tensor, regions: readonly (readonly number[])[]): void {
  const [tp, fp, fn] = tf.tidy(() => {
    const valid = tf.expandDims(tf.cast(tf.greaterEqual(target, 0), 'float32'), -1);
    const pred = tf.mul(tf.cast(tf.greater(logits, 0), 'float32'), valid);
    const gt = tf.mul(
      tf.stack(regions.map((labels) => tf.cast(labels.map((v) => tf.equal(target, v)).reduce((a, b) => tf.logicalOr(a, b)), 'float32')), -1),
      valid,
    );
    const axes = Array.from({ length: logits.rank - 1 }, (_, i) => i);
    const tp = tf.sum(tf.mul(pred, gt), axes);
    return [tp, tf.sub(tf.sum(pred, axes), tp), tf.sub(tf.sum(gt, axes), tp)];
  });
  const [a, b, c] = [tp!.dataSync(), fp!.dataSync(), fn!.dataSync()];
  tf.dispose([tp!, fp!, fn!]);
  for (let r = 0; r < regions.length; r++) {
    counts.tp[r]! += a[r]!;
    counts.fp[r]! += b[r]!;
    counts.fn[r]! += c[r]!;
  }
}

/** Per-class Dice (NaN where a class had no voxels in prediction or reference). */
export function pseudoDice(c: Counts): number[] {
  return c.tp.map((tp, i) => {
    const d = 2 * tp + c.fp[i]! + c.fn[i]!;
    return d === 0 ? NaN : (2 * tp) / d;
  });
}

/** Mean over the classes that are not NaN (NaN if all are). */
export function meanDice(perClass: number[]): number {
  const ok = perClass.filter((d) => !Number.isNaN(d));
  return ok.length === 0 ? NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
}

/** nnU-Net's moving average: the first value as it is, then alpha·old + (1 − alpha)·new. */
export function ema(previous: number | null, value: number, alpha: number): number {
  if (previous === null || Number.isNaN(previous)) return value;
  if (Number.isNaN(value)) return previous;
  return alpha * previous + (1 - alpha) * value;
}
