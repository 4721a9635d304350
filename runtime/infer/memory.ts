/**
 * How much memory predicting one case takes, from the image headers alone (no voxel is read), so a
 * case too large for the machine is refused with the figure instead of growing until the system
 * kills the process (and the rest of the batch with it).
 *
 * The estimate follows the buffers `predictCases` holds, assuming no voxel is cropped away (an
 * upper bound for the crop) and the plans' resampling, with N voxels as stored, M after
 * resampling (at least one patch), C channels, K classes, F bytes of files, B bytes of voxels:
 *   reading               the files, their decompressed voxels, the float32 copies        F + 2B + 4N·C
 *   preprocessing         cropped copies and resampling's intermediates                   12N·C + 8M·C
 *   sliding window        padded input, probability and weight accumulators, their result 8M·C + 8M·K + 4M
 *   export                probabilities back on the cropped grid, argmax, label map       4N·K + 8N
 *   fixed                 kernels' scratch, allocator and garbage-collector slack          64 MiB
 * The terms are added (buffers of one phase are often still alive in the next). Measured with
 * bench/memory-estimate.ts (peak RSS of a predict process minus a one-patch baseline), the
 * estimate was 1.3 to 2.6 times the measured use on cases from 96×96×32 to 160³ (never below it):
 * a bound, not a guess.
 */
import { statSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { Plans, Triple } from '../data/plan/plans.js';
import { readNiftiHeader } from '../data/nifti/index.js';
import { resampledShape } from '../data/resample/resample.js';

export interface CaseMemoryEstimate {
  bytes: number;
  /** Array-order shape as stored and after resampling to the plans' spacing. */
  shape: Triple;
  resampled: Triple;
}

export function estimateCaseMemory(images: string[], plans: Plans, classes: number): CaseMemoryEstimate {
  let fileBytes = 0;
  let dataBytes = 0;
  let shape: Triple = [1, 1, 1];
  let spacing: Triple = [1, 1, 1];
  let channels = 0;
  images.forEach((path, i) => {
    const h = readNiftiHeader(path);
    fileBytes += statSync(path).size;
    dataBytes += h.dataBytes;
    const [x = 1, y = 1, z = 1, ...rest] = h.shape;
    channels += rest.reduce((a, b) => a * Math.max(1, b), 1);
    if (i === 0) {
      shape = [z, y, x];
      const p = h.header.pixdim;
      spacing = [Math.abs(p[3] ?? 1) || 1, Math.abs(p[2] ?? 1) || 1, Math.abs(p[1] ?? 1) || 1];
    }
  });
  const patch = plans.training.patch_size;
  const resampled = resampledShape(shape, spacing, plans.preprocessing.target_spacing).map((n) => Math.max(1, n)) as Triple;
  const N = shape[0] * shape[1] * shape[2];
  const M = resampled.reduce((a, n, ax) => a * Math.max(n, patch[ax]!), 1);
  const C = Math.max(1, channels);
  const K = classes;
  const bytes = 64 * 2 ** 20 + fileBytes + 2 * dataBytes + 16 * N * C + 4 * N * K + 8 * N + 16 * M * C + 8 * M * K + 4 * M;
  return { bytes, shape, resampled };
}

/** The default budget: three quarters of the memory this process may use (cgroup limit or RAM). */
export function defaultMemoryBudget(): number {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  const total = constrained && constrained > 0 ? Math.min(constrained, totalmem()) : totalmem();
  return Math.floor(total * 0.75);
}

/** '8G', '512M', '1.5GiB', '2000000000' → bytes; null when it is not a size. */
export function parseMemorySize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) return null;
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const v = Number(m[1]) * unit;
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : null;
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(n >= 100 * 2 ** 30 ? 0 : 1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `${Math.ceil(n / 2 ** 10)} KiB`;
}
