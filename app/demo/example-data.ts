import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ExampleDataError } from '../../runtime/errors.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { createImage, defaultHeader, type NiftiHeader } from '../../runtime/data/nifti/index.js';
import { serializeNifti1Header } from '../../runtime/data/nifti/header.js';
import { headerForWrite } from '../../runtime/data/nifti/encode.js';
import { generatePhantom, PHANTOM_LABELS, type PhantomCase, type PhantomOptions } from './phantom.js';
import { childSeed } from './random.js';

/**
 * `mnxc example-data`: a synthetic CT dataset in the nnU-Net v2 layout, written the way scanners'
 * converters write CT — int16 voxels holding HU + 1024 with scl_inter = −1024, LPS storage order,
 * scanner-anatomical qform and sform codes, slightly tilted affines, anisotropic voxels.
 */

export const EXAMPLE_DATASET_NAME = 'Dataset900_Phantom';

export interface ExampleDataOptions {
  cases: number;
  testCases: number;
  seed: number;
  phantom?: PhantomOptions;
  /** Called after each case is written. */
  onCase?: (done: number, total: number, id: string) => void;
}

/** Stored = HU − CT_INTERCEPT, so air (−1000 HU) is 24 and the int16 range covers −1024..3071 HU. */
const CT_INTERCEPT = -1024;
const SCANNER_ANAT = 1;

function phantomHeader(c: PhantomCase, dtype: 'int16' | 'uint8', file: string, scaled: boolean): NiftiHeader {
  const ref: NiftiHeader = { ...defaultHeader(), qformCode: SCANNER_ANAT, sformCode: SCANNER_ANAT, descrip: 'mnxc synthetic phantom' };
  const image = createImage({ shape: c.shape, data: new Uint8Array(c.shape[0] * c.shape[1] * c.shape[2]), affine: c.affine });
  const h = headerForWrite(image, dtype, ref, file);
  if (scaled) {
    h.sclSlope = 1;
    h.sclInter = CT_INTERCEPT;
    h.scaling = true;
    h.calMin = -1024;
    h.calMax = 3071;
  }
  return h;
}

function writeVolume(path: string, header: NiftiHeader, voxels: Uint8Array): void {
  const head = serializeNifti1Header(header, true);
  const whole = new Uint8Array(head.byteLength + voxels.byteLength);
  whole.set(head, 0);
  whole.set(voxels, head.byteLength);
  // gzip output is deterministic (no timestamp), so a seed always gives the same bytes.
  writeFileAtomic(path, gzipSync(whole, { level: 6 }));
}

/** Writes `{id}_0000.nii.gz` (int16 + scl_inter) and the label (uint8) of one case. */
export function writePhantomCase(imagePath: string, labelPath: string, c: PhantomCase): void {
  const stored = new Int16Array(c.hu.length);
  for (let i = 0; i < c.hu.length; i++) stored[i] = c.hu[i]! - CT_INTERCEPT;
  writeVolume(imagePath, phantomHeader(c, 'int16', imagePath, true), new Uint8Array(stored.buffer));
  writeVolume(labelPath, phantomHeader(c, 'uint8', labelPath, false), c.label);
}

export function caseId(index: number): string {
  return `phantom_${String(index).padStart(3, '0')}`;
}

/** Test case ids start here so training and test ids never collide. */
const TEST_OFFSET = 500;

/**
 * Writes OUT_DIR/Dataset900_Phantom with `cases` training and `testCases` test cases; returns the
 * dataset folder. Case i (training) and TEST_OFFSET + i (test) are seeded from (seed, id), so a
 * larger --cases keeps the first cases as they were.
 */
export function writeExampleDataset(outDir: string, opts: ExampleDataOptions): string {
  if (!Number.isInteger(opts.cases) || opts.cases < 1) throw new ExampleDataError(`--cases must be a positive integer, got ${opts.cases}`);
  if (!Number.isInteger(opts.testCases) || opts.testCases < 0) throw new ExampleDataError(`--test-cases must be a whole number, got ${opts.testCases}`);
  const dir = join(outDir, EXAMPLE_DATASET_NAME);
  for (const sub of ['imagesTr', 'labelsTr', 'imagesTs', 'labelsTs']) {
    const p = join(dir, sub);
    if (existsSync(p) && readdirSync(p).some((f) => f.endsWith('.nii.gz'))) {
      throw new ExampleDataError(`${p} already holds cases; choose an empty OUT_DIR or remove ${dir}`);
    }
  }
  const json = {
    name: 'Phantom',
    description: `Synthetic abdomen-like CT phantom written by mnxc example-data (seed ${opts.seed}): int16 with scl_inter ${CT_INTERCEPT}, ` +
      'anisotropic voxels (about 0.8 × 0.8 × 2.5 mm), tilted affines. Liver, kidney and liver lesion are labelled; ' +
      'spleen, aorta, vena cava and bowel share their intensities and are not.',
    reference: 'synthetic',
    licence: 'CC0-1.0',
    channel_names: { '0': 'CT' },
    labels: { ...PHANTOM_LABELS },
    numTraining: opts.cases,
    file_ending: '.nii.gz',
  };
  const total = opts.cases + opts.testCases;
  let done = 0;
  const write = (index: number, split: 'Tr' | 'Ts') => {
    const id = caseId(index);
    const c = generatePhantom(childSeed(opts.seed, index), opts.phantom);
    writePhantomCase(join(dir, `images${split}`, `${id}_0000.nii.gz`), join(dir, `labels${split}`, `${id}.nii.gz`), c);
    opts.onCase?.(++done, total, id);
  };
  for (let i = 0; i < opts.cases; i++) write(i, 'Tr');
  for (let i = 0; i < opts.testCases; i++) write(TEST_OFFSET + i, 'Ts');
  // dataset.json last: its presence means the dataset is complete.
  writeFileAtomic(join(dir, 'dataset.json'), JSON.stringify(json, null, 2) + '\n');
  return dir;
}
