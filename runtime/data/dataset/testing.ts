import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { createImage, writeNifti, type NiftiDType, type VoxelArray } from '../nifti/index.js';

/**
 * Helpers for tests that need a small real nnU-Net v2 dataset on disk (NIfTI files written with
 * the real writer). Not used by the pipeline itself.
 */

export interface TestCaseSpec {
  id: string;
  /** One array per channel, x fastest, `shape` voxels each. */
  channels: VoxelArray[];
  /** Label voxels, or null for no label file. */
  label: VoxelArray | null;
  shape: number[];
  /** Default: 1 mm voxels, identity orientation. */
  affine?: number[][];
  /** Stored type of the channel files (default float32). */
  imageDType?: NiftiDType;
}

/** Writes `imagesTr/{id}_{XXXX}.nii.gz` per channel and `labelsTr/{id}.nii.gz` (uint8). */
export function writeTestCase(datasetDir: string, spec: TestCaseSpec, split: 'Tr' | 'Ts' = 'Tr'): void {
  spec.channels.forEach((data, c) => {
    const img = createImage({ shape: spec.shape, data, affine: spec.affine });
    writeNifti(join(datasetDir, `images${split}`, `${spec.id}_${String(c).padStart(4, '0')}.nii.gz`), img, { dtype: spec.imageDType ?? 'float32' });
  });
  if (spec.label) {
    writeNifti(join(datasetDir, `labels${split}`, `${spec.id}.nii.gz`), createImage({ shape: spec.shape, data: spec.label, affine: spec.affine }), { dtype: 'uint8' });
  }
}

export interface TestDatasetSpec {
  channelNames: string[];
  /** name → value, background included. */
  labels: Record<string, number | number[]>;
  cases: TestCaseSpec[];
  testCases?: TestCaseSpec[];
  name?: string;
}

/** Writes a whole v2 dataset: dataset.json plus every case. Returns the folder. */
export function writeTestDataset(dir: string, spec: TestDatasetSpec): string {
  const json = {
    name: spec.name ?? 'test',
    channel_names: Object.fromEntries(spec.channelNames.map((n, i) => [String(i), n])),
    labels: spec.labels,
    numTraining: spec.cases.filter((c) => c.label).length,
    file_ending: '.nii.gz',
  };
  writeFileAtomic(join(dir, 'dataset.json'), JSON.stringify(json, null, 2) + '\n');
  for (const c of spec.cases) writeTestCase(dir, c);
  for (const c of spec.testCases ?? []) writeTestCase(dir, c, 'Ts');
  return dir;
}

/**
 * A deterministic synthetic case: channel c is a smooth intensity pattern plus a bright sphere;
 * the label marks the sphere (1) and its core (2).
 */
export function syntheticCase(id: string, shape: number[], nChannels: number, seed = 1): TestCaseSpec {
  const [X = 1, Y = 1, Z = 1] = shape;
  const n = X * Y * Z;
  const label = new Uint8Array(n);
  const channels = Array.from({ length: nChannels }, () => new Float32Array(n));
  const cx = X / 2 + (seed % 3) - 1, cy = Y / 2, cz = Z / 2, r = Math.min(X, Y, Z) / 3;
  for (let k = 0; k < Z; k++) for (let j = 0; j < Y; j++) for (let i = 0; i < X; i++) {
    const idx = i + X * (j + Y * k);
    const d = Math.hypot(i - cx, j - cy, k - cz);
    label[idx] = d < r / 2 ? 2 : d < r ? 1 : 0;
    channels.forEach((ch, c) => {
      ch[idx] = 100 * (c + 1) * (label[idx]! > 0 ? 1 : 0) + 10 * Math.sin((i + seed) / 3) + 5 * Math.cos((j + k * c) / 4);
    });
  }
  return { id, channels, label, shape };
}
