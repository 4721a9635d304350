/**
 * Sliding-window inference over a preprocessed volume (nnU-Net v1 `_internal_predict_3D_3Dconv_tiled`):
 * pad to at least the patch (zeros, split evenly with the odd voxel after), slide the patch with the
 * step rule, weight each window's class probabilities by the Gaussian importance map, accumulate
 * probabilities and weights, divide at the end and crop the padding away.
 *
 * The network is behind `WindowPredictor` (patch in, probabilities out, both channels-last), so the
 * same loop serves any backend and the tests can drive it with a known function. Several models
 * (folds) accumulate into the same buffers: each adds Σ g·p and Σ g over the same windows, so the
 * final quotient is the mean of the folds' own weighted averages. Only two buffers of the padded
 * volume's size exist: K × N probability sums and N weights (Float32Array).
 */
import type { Triple } from '../data/plan/plans.js';
import { windowGrid } from './steps.js';

/** A patch [p0, p1, p2, C] (channels-last, C order) → class probabilities [p0, p1, p2, K]. */
export type WindowPredictor = (patch: Float32Array) => Promise<Float32Array>;

/** A volume in the preprocessing layout: C order [C, d0, d1, d2], channel-major. */
export interface Volume {
  data: Float32Array;
  channels: number;
  shape: Triple;
}

/** A volume padded to at least the patch, and where the original sits inside it. */
export interface PaddedVolume extends Volume {
  /** Padding before each axis (the original starts here). */
  offset: Triple;
  original: Triple;
}

function product(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/** Zero-pads axes shorter than the patch (nnU-Net `pad_nd_image`: ⌊diff/2⌋ before, the rest after). */
export function padToPatch(volume: Volume, patch: Triple): PaddedVolume {
  const shape = volume.shape.map((s, a) => Math.max(s, patch[a]!)) as Triple;
  const offset = shape.map((s, a) => Math.floor((s - volume.shape[a]!) / 2)) as Triple;
  if (shape.every((s, a) => s === volume.shape[a])) return { ...volume, offset, original: volume.shape };
  const n = product(shape);
  const m = product(volume.shape);
  const data = new Float32Array(volume.channels * n);
  const [s0, s1, s2] = volume.shape;
  for (let c = 0; c < volume.channels; c++)
    for (let a = 0; a < s0; a++)
      for (let b = 0; b < s1; b++) {
        const src = c * m + (a * s1 + b) * s2;
        const dst = c * n + ((a + offset[0]) * shape[1] + b + offset[1]) * shape[2] + offset[2];
        data.set(volume.data.subarray(src, src + s2), dst);
      }
  return { data, channels: volume.channels, shape, offset, original: volume.shape };
}

/** Copies the window at `start` out of `volume` into `out` ([p0, p1, p2, C], channels-last). */
export function extractPatch(volume: Volume, start: readonly number[], patch: Triple, out: Float32Array): Float32Array {
  const [d0, d1, d2] = volume.shape;
  const [p0, p1, p2] = patch;
  const C = volume.channels;
  const n = d0 * d1 * d2;
  for (let c = 0; c < C; c++)
    for (let a = 0; a < p0; a++)
      for (let b = 0; b < p1; b++) {
        const src = c * n + ((a + start[0]!) * d1 + b + start[1]!) * d2 + start[2]!;
        let dst = ((a * p1 + b) * p2) * C + c;
        for (let x = 0; x < p2; x++, dst += C) out[dst] = volume.data[src + x]!;
      }
  return out;
}

/** Σ g·p per class and Σ g per voxel over a padded volume. */
export class ProbabilityAccumulator {
  readonly sums: Float32Array;
  readonly weights: Float32Array;
  private readonly n: number;

  constructor(readonly shape: Triple, readonly classes: number) {
    this.n = product(shape);
    this.sums = new Float32Array(classes * this.n);
    this.weights = new Float32Array(this.n);
  }

  /** Adds one window's probabilities ([p0, p1, p2, K], channels-last) weighted by `importance`. */
  add(start: readonly number[], patch: Triple, probabilities: Float32Array, importance: Float32Array): void {
    const K = this.classes;
    if (probabilities.length !== product(patch) * K) throw new Error(`window prediction has ${probabilities.length} values, expected ${patch.join('×')}×${K}`);
    const [, d1, d2] = this.shape;
    const [p0, p1, p2] = patch;
    const { sums, weights, n } = this;
    let v = 0;
    for (let a = 0; a < p0; a++)
      for (let b = 0; b < p1; b++) {
        const row = ((a + start[0]!) * d1 + b + start[1]!) * d2 + start[2]!;
        for (let x = 0; x < p2; x++, v++) {
          const g = importance[v]!;
          const idx = row + x;
          weights[idx]! += g;
          const pv = v * K;
          for (let k = 0; k < K; k++) sums[k * n + idx]! += probabilities[pv + k]! * g;
        }
      }
  }

  /**
   * The weighted mean [K, s0, s1, s2] of the box `offset … offset + size` (the unpadded volume).
   * Without padding it is computed in place in `sums` (no second K × N buffer); the accumulator is
   * spent afterwards.
   */
  result(offset: Triple, size: Triple): Float32Array {
    const [, d1, d2] = this.shape;
    if (offset.every((o) => o === 0) && size.every((s, a) => s === this.shape[a])) {
      for (let k = 0; k < this.classes; k++) {
        const sums = this.sums.subarray(k * this.n, (k + 1) * this.n);
        for (let i = 0; i < this.n; i++) {
          const w = this.weights[i]!;
          sums[i] = w > 0 ? sums[i]! / w : 0;
        }
      }
      return this.sums;
    }
    const m = product(size);
    const out = new Float32Array(this.classes * m);
    let o = 0;
    for (let k = 0; k < this.classes; k++)
      for (let a = 0; a < size[0]; a++)
        for (let b = 0; b < size[1]; b++) {
          const row = ((a + offset[0]) * d1 + b + offset[1]) * d2 + offset[2];
          for (let x = 0; x < size[2]; x++) {
            const w = this.weights[row + x]!;
            out[o++] = w > 0 ? this.sums[k * this.n + row + x]! / w : 0;
          }
        }
    return out;
  }
}

export interface SlidingWindowOptions {
  patch: Triple;
  step: number;
  importance: Float32Array;
  /** Called after each window with (done, total); a promise it returns is awaited (a page yields to redraw). */
  onWindow?: (done: number, total: number) => void | Promise<void>;
}

/** Runs `predict` over every window of `volume` (already padded) and adds the results to `acc`. */
export async function accumulateWindows(volume: Volume, predict: WindowPredictor, acc: ProbabilityAccumulator, opts: SlidingWindowOptions): Promise<void> {
  const { patch } = opts;
  if (volume.shape.some((s, a) => s < patch[a]!)) throw new Error(`volume ${volume.shape.join('×')} is smaller than the patch ${patch.join('×')}; pad it first`);
  if (acc.shape.some((s, a) => s !== volume.shape[a])) throw new Error(`accumulator ${acc.shape.join('×')} does not match the volume ${volume.shape.join('×')}`);
  const windows = windowGrid(volume.shape, patch, opts.step);
  const buffer = new Float32Array(product(patch) * volume.channels);
  for (let i = 0; i < windows.length; i++) {
    const start = windows[i]!;
    const probabilities = await predict(extractPatch(volume, start, patch, buffer));
    acc.add(start, patch, probabilities, opts.importance);
    await opts.onWindow?.(i + 1, windows.length);
  }
}

/** The whole sliding-window prediction of one volume with one or more predictors (averaged). */
export async function predictSlidingWindow(volume: Volume, predictors: WindowPredictor[], classes: number, opts: SlidingWindowOptions): Promise<Float32Array> {
  const padded = padToPatch(volume, opts.patch);
  const acc = new ProbabilityAccumulator(padded.shape, classes);
  for (const p of predictors) await accumulateWindows(padded, p, acc, opts);
  return acc.result(padded.offset, padded.original);
}
