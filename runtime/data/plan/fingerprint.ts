/**
 * The dataset fingerprint (nnU-Net v1 `DatasetAnalyzer`), computed on the cropped cases: per case its
 * shape, spacing, shape after cropping and size reduction; per channel the foreground intensity
 * statistics. Sampling follows v1 (what MedNeXt ran): every 10th foreground voxel (label > 0) of each
 * cropped case, in array order (`voxels[mask][::10]`), pooled over all cases; the pooled statistics
 * feed CT normalisation. Per-case statistics of the same samples are recorded too.
 */
import { PlansError } from '../../errors.js';
import { loadCase, type CaseSource } from '../preprocess/load-case.js';
import { cropCase } from '../preprocess/pipeline.js';
import type { Box3 } from '../preprocess/crop.js';
import { labelValues } from '../resample/resize.js';
import type { Triple } from '../preprocess/store.js';

export interface IntensityStatistics {
  mean: number;
  std: number;
  median: number;
  min: number;
  max: number;
  percentile_00_5: number;
  percentile_99_5: number;
  /** Number of sampled voxels. */
  n: number;
}

export interface CaseFingerprint {
  id: string;
  shape: Triple;
  spacing: Triple;
  crop_box: Box3;
  shape_after_cropping: Triple;
  size_reduction: number;
  /** Label values present. */
  classes: number[];
  /** Per channel, statistics of this case's sampled foreground voxels (null when it has none). */
  foreground_intensity: (IntensityStatistics | null)[];
}

export interface Fingerprint {
  version: 1;
  dataset: string;
  channels: string[];
  labels: Record<string, string>;
  /** How intensities were sampled. */
  sampling: { every_nth_foreground_voxel: number; after_cropping: true };
  cases: CaseFingerprint[];
  /** Per channel, over all cases' samples (null when no case has foreground). */
  foreground_intensity: (IntensityStatistics | null)[];
  median_spacing: Triple;
  median_shape_after_cropping: Triple;
  median_size_reduction: number;
}

export const FOREGROUND_STRIDE = 10;

/** numpy `percentile(sorted, q)` with linear interpolation, on an ascending array. */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (q / 100) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const f = pos - lo;
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * f;
}

/** numpy `median` of a list (average of the middle two). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return percentileSorted(s, 50);
}

/** numpy-style statistics: population std (ddof 0), linear percentiles. */
export function intensityStatistics(values: Float64Array): IntensityStatistics | null {
  const n = values.length;
  if (n === 0) return null;
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i]!;
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (s[i]! - mean) ** 2;
  return {
    mean,
    std: Math.sqrt(sq / n),
    median: percentileSorted(s, 50),
    min: s[0]!,
    max: s[n - 1]!,
    percentile_00_5: percentileSorted(s, 0.5),
    percentile_99_5: percentileSorted(s, 99.5),
    n,
  };
}

/** Growable float64 buffer for the pooled samples. */
class Samples {
  private buf = new Float64Array(1024);
  length = 0;
  push(v: number) {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  append(other: Float64Array) {
    for (let i = 0; i < other.length; i++) this.push(other[i]!);
  }
  values(): Float64Array {
    return this.buf.subarray(0, this.length);
  }
}

export interface FingerprintInput {
  name: string;
  channels: string[];
  labels: Record<string, string>;
  /** nnU-Net v2's ignore label (dataset.json `labels.ignore`): a declared value that is not a class. */
  ignoreLabel?: number;
  cases: CaseSource[];
  channelsInOneFile?: boolean;
}

/** Reads every training case once. `onCase` reports progress. */
export function computeFingerprint(input: FingerprintInput, onCase?: (done: number, total: number, id: string) => void): Fingerprint {
  if (input.cases.length === 0) throw new PlansError(`dataset ${input.name}: no training cases with labels to plan from`);
  const pooled = input.channels.map(() => new Samples());
  const cases: CaseFingerprint[] = [];
  input.cases.forEach((source, idx) => {
    const loaded = loadCase(source, input.channelsInOneFile ?? false, input.channels.length, [...Object.keys(input.labels).map(Number), ...(input.ignoreLabel === undefined ? [] : [input.ignoreLabel])]);
    const cropped = cropCase(loaded);
    const perChannel: (IntensityStatistics | null)[] = [];
    cropped.channels.forEach((ch, c) => {
      const mine = new Samples();
      let k = 0;
      for (let i = 0; i < ch.length; i++)
        if (cropped.seg[i]! > 0) {
          if (k % FOREGROUND_STRIDE === 0) mine.push(ch[i]!);
          k++;
        }
      pooled[c]!.append(mine.values());
      perChannel.push(intensityStatistics(mine.values()));
    });
    const classes = loaded.label ? labelValues(loaded.label) : [];
    const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
    cases.push({
      id: source.id,
      shape: loaded.shape,
      spacing: loaded.spacing,
      crop_box: cropped.box,
      shape_after_cropping: cropped.shape,
      size_reduction: prod(cropped.shape) / prod(loaded.shape),
      classes,
      foreground_intensity: perChannel,
    });
    onCase?.(idx + 1, input.cases.length, source.id);
  });
  const axis = (get: (c: CaseFingerprint) => number[]) => [0, 1, 2].map((a) => median(cases.map((c) => get(c)[a]!))) as Triple;
  return {
    version: 1,
    dataset: input.name,
    channels: input.channels,
    labels: input.labels,
    sampling: { every_nth_foreground_voxel: FOREGROUND_STRIDE, after_cropping: true },
    cases,
    foreground_intensity: pooled.map((p) => intensityStatistics(p.values())),
    median_spacing: axis((c) => c.spacing),
    median_shape_after_cropping: axis((c) => c.shape_after_cropping),
    median_size_reduction: median(cases.map((c) => c.size_reduction)),
  };
}
