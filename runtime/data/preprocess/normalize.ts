/**
 * Intensity normalisation per channel, as nnU-Net v1 `GenericPreprocessor.resample_and_normalize`:
 * - `CT`: clip to the dataset's foreground 0.5 / 99.5 percentiles, subtract the foreground mean, divide
 *   by its standard deviation (all from the fingerprint);
 * - `zscore`: per image `(x − mean) / (std + 1e-8)`; with `use_nonzero_mask`, mean and std come from the
 *   voxels inside the non-zero region (label ≥ 0 after cropping) and the outside is set to 0;
 * - `noNorm`: unchanged.
 * Statistics are accumulated in float64 (numpy would sum the float32 array pairwise; the difference is
 * far below float32 resolution of the result).
 */
export type NormalizationScheme = 'CT' | 'zscore' | 'noNorm';

export interface ChannelNormalization {
  scheme: NormalizationScheme;
  use_nonzero_mask: boolean;
  /** CT only: foreground statistics of the dataset. */
  mean?: number;
  std?: number;
  lower?: number;
  upper?: number;
}

/** Normalises `data` in place. `labels` (same size) marks outside-the-body voxels with −1. */
export function normalizeChannel(data: Float32Array | Float64Array, norm: ChannelNormalization, labels?: ArrayLike<number>): void {
  const n = data.length;
  const inside = (i: number) => labels === undefined || labels[i]! >= 0;
  if (norm.scheme === 'noNorm') return;
  if (norm.scheme === 'CT') {
    const { mean, std, lower, upper } = norm;
    if (mean === undefined || std === undefined || lower === undefined || upper === undefined)
      throw new Error('CT normalisation needs the foreground mean, std and 0.5/99.5 percentiles');
    for (let i = 0; i < n; i++) {
      const v = Math.min(Math.max(data[i]!, lower), upper);
      data[i] = (v - mean) / std;
    }
    if (norm.use_nonzero_mask && labels) for (let i = 0; i < n; i++) if (!inside(i)) data[i] = 0;
    return;
  }
  const masked = norm.use_nonzero_mask && labels !== undefined;
  let count = 0;
  let sum = 0;
  for (let i = 0; i < n; i++)
    if (!masked || inside(i)) {
      sum += data[i]!;
      count++;
    }
  const mean = count > 0 ? sum / count : 0;
  let sq = 0;
  for (let i = 0; i < n; i++)
    if (!masked || inside(i)) {
      const d = data[i]! - mean;
      sq += d * d;
    }
  const std = count > 0 ? Math.sqrt(sq / count) : 0;
  for (let i = 0; i < n; i++) data[i] = !masked || inside(i) ? (data[i]! - mean) / (std + 1e-8) : 0;
}
