/**
 * A synthetic, BraTS-like brain-tumour dataset in the nnU-Net v2 layout, for the region-based and
 * multi-modal path: four MRI channels (T1, T1ce, T2, FLAIR), skull-stripped (exactly 0 outside an
 * ellipsoidal brain), 1 mm voxels. Each case holds one tumour of nested sub-regions with nnU-Net's
 * BraTS labels: 1 edema (a shell, bright on T2 and FLAIR), 2 necrotic / non-enhancing core (dark on
 * T1 and T1ce, bright on T2), 3 enhancing tumour (a rim around the necrosis, bright on T1ce only).
 * dataset.json declares the regions whole tumour (1, 2, 3), tumour core (2, 3) and enhancing tumour
 * (3) with `regions_class_order` [1, 2, 3], as nnU-Net v2's BraTS conversion does. The same seed
 * always gives the same files; a case depends only on the seed and its index.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { Rng, deriveSeed } from '../../train/rng.js';
import { writeTestCase, type TestCaseSpec } from './testing.js';

export const BRAIN_TUMOUR_DATASET_NAME = 'Dataset901_BrainTumour';
export const BRAIN_TUMOUR_CHANNELS = ['T1', 'T1ce', 'T2', 'FLAIR'];
export const BRAIN_TUMOUR_LABELS = { background: 0, 'whole tumor': [1, 2, 3], 'tumor core': [2, 3], 'enhancing tumor': [3] };

/** Mean intensity per tissue and channel (T1, T1ce, T2, FLAIR): brain, edema, necrosis, enhancing. */
const TISSUE: Record<'brain' | 'edema' | 'necrosis' | 'enhancing', number[]> = {
  brain: [0.8, 0.8, 0.5, 0.5],
  edema: [0.6, 0.6, 1.2, 1.35],
  necrosis: [0.3, 0.3, 1.5, 0.8],
  enhancing: [0.7, 1.7, 1.0, 1.0],
};

export interface BrainTumourOptions {
  /** Voxels along x, y, z (default 40 × 40 × 32). */
  shape?: [number, number, number];
}

/** One case: four float32 channels (x fastest) and the label map. */
export function brainTumourCase(id: string, seed: number, opts: BrainTumourOptions = {}): TestCaseSpec {
  const [X, Y, Z] = opts.shape ?? [40, 40, 32];
  const rng = new Rng(seed);
  const n = X * Y * Z;
  const channels = BRAIN_TUMOUR_CHANNELS.map(() => new Float32Array(n));
  const label = new Uint8Array(n);
  // brain ellipsoid
  const c = [X / 2 + rng.uniform(-1, 1), Y / 2 + rng.uniform(-1, 1), Z / 2 + rng.uniform(-1, 1)];
  const r = [X * rng.uniform(0.38, 0.45), Y * rng.uniform(0.38, 0.45), Z * rng.uniform(0.38, 0.45)];
  // tumour: centre inside the brain, nested radii (edema ⊃ enhancing ⊃ necrosis)
  const t = [0, 1, 2].map((a) => c[a]! + r[a]! * rng.uniform(-0.35, 0.35));
  const rEdema = Math.min(...r) * rng.uniform(0.45, 0.6);
  const rCore = rEdema * rng.uniform(0.5, 0.65);
  const rNecrosis = rCore * rng.uniform(0.35, 0.6);
  const wobble = [rng.uniform(0, 6.3), rng.uniform(0, 6.3), rng.uniform(0.1, 0.25)];
  const gain = BRAIN_TUMOUR_CHANNELS.map(() => rng.uniform(0.9, 1.1)); // per-sequence scanner scaling
  for (let k = 0; k < Z; k++)
    for (let j = 0; j < Y; j++)
      for (let i = 0; i < X; i++) {
        const idx = i + X * (j + Y * k);
        const e = ((i - c[0]!) / r[0]!) ** 2 + ((j - c[1]!) / r[1]!) ** 2 + ((k - c[2]!) / r[2]!) ** 2;
        if (e > 1) continue; // skull-stripped: 0 outside the brain
        const dx = i - t[0]!, dy = j - t[1]!, dz = k - t[2]!;
        const d = Math.hypot(dx, dy, dz) * (1 + wobble[2]! * Math.sin(Math.atan2(dy, dx) * 3 + wobble[0]!) * Math.cos(dz / 3 + wobble[1]!));
        const tissue = d < rNecrosis ? 'necrosis' : d < rCore ? 'enhancing' : d < rEdema ? 'edema' : 'brain';
        label[idx] = tissue === 'necrosis' ? 2 : tissue === 'enhancing' ? 3 : tissue === 'edema' ? 1 : 0;
        // grey/white-matter-like texture, then noise
        const texture = 0.08 * Math.sin(i / 2.5 + seed) * Math.cos(j / 3.1) + 0.05 * Math.sin(k / 2 + j / 4);
        for (let ch = 0; ch < 4; ch++) channels[ch]![idx] = gain[ch]! * (TISSUE[tissue][ch]! + texture) + 0.06 * rng.normal() + 0.05;
      }
  return { id, channels, label, shape: [X, Y, Z] };
}

export interface BrainTumourDatasetOptions extends BrainTumourOptions {
  cases: number;
  testCases: number;
  seed: number;
  onCase?: (done: number, total: number, id: string) => void;
}

/** Writes `outDir/Dataset901_BrainTumour` (dataset.json, imagesTr, labelsTr, imagesTs, labelsTs); returns it. */
export function writeBrainTumourDataset(outDir: string, opts: BrainTumourDatasetOptions): string {
  const dir = join(outDir, BRAIN_TUMOUR_DATASET_NAME);
  const total = opts.cases + opts.testCases;
  for (let index = 0; index < total; index++) {
    const id = `brain_${String(index).padStart(3, '0')}`;
    writeTestCase(dir, brainTumourCase(id, deriveSeed(opts.seed, index), opts), index < opts.cases ? 'Tr' : 'Ts');
    opts.onCase?.(index + 1, total, id);
  }
  const json = {
    name: 'BrainTumour',
    description: `Synthetic BraTS-like 4-sequence MRI phantom written by mnxc example-data --kind brain-tumour (seed ${opts.seed})`,
    channel_names: Object.fromEntries(BRAIN_TUMOUR_CHANNELS.map((name, i) => [String(i), name])),
    labels: BRAIN_TUMOUR_LABELS,
    regions_class_order: [1, 2, 3],
    numTraining: opts.cases,
    file_ending: '.nii.gz',
  };
  writeFileAtomic(join(dir, 'dataset.json'), JSON.stringify(json, null, 2) + '\n');
  return dir;
}
