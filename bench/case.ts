/**
 * The `case` row: what a user waits for when `mnxc predict` segments one CT scan. A synthetic
 * int16 volume (default 512×512×200 at 0.8×0.8×2.5 mm, written as .nii.gz) through a real run
 * folder (MedNeXt, random weights, target spacing 1 mm, patch 128³, step 0.5).
 *
 * Two ways to measure it, both on the library calls `predictCases` is made of:
 *  - `full`: `predictCases` itself, one fold, no mirroring, every window — the measured figure;
 *  - `parts`: each step once, timed on its own — reading the NIfTI, preprocessing (crop, resample,
 *    normalise, pad), loading a fold's weights, a few windows through the network (without and with
 *    mirroring), adding a window to the accumulator, the weighted mean, export (resampling back,
 *    argmax, writing the label map). `caseTotal` adds them up for any number of folds and either
 *    mirroring setting: a figure *computed from measured parts*, never a measurement.
 * Both allocate every full-size buffer a real case does, so peak RSS is that of a real case.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createImage, writeNifti } from '../runtime/data/nifti/index.js';
import type { Triple } from '../runtime/data/plan/plans.js';
import { loadCase, preprocessLoadedCase } from '../runtime/data/preprocess/index.js';
import { readSafetensors } from '../runtime/io/safetensors.js';
import { buildModel } from '../runtime/model/model.js';
import { loadWeights } from '../runtime/weights/state-dict.js';
import { exportProbabilities, writeLabelMap } from '../runtime/infer/export.js';
import { gaussianImportanceMap } from '../runtime/infer/gaussian.js';
import { findInputCases } from '../runtime/infer/inputs.js';
import { predictCases } from '../runtime/infer/predict.js';
import { ProbabilityAccumulator, extractPatch, padToPatch } from '../runtime/infer/sliding-window.js';
import { windowGrid } from '../runtime/infer/steps.js';
import { modelWindowPredictor } from '../runtime/infer/tta.js';
import { RunFolder } from '../app/run-folder.js';
import { writeTestRunFolder } from '../app/testing.js';

/** The scan and the network of a `case` row. */
export interface CaseWorkload {
  /** NIfTI shape (x, y, z) and voxel size in mm. */
  shape: Triple;
  spacing: Triple;
  /** Isotropic target spacing of the plans, mm. */
  target: number;
  patch: number;
  step: number;
  /** The network: spec file, variant, `--set` overrides (n_classes among them), classes. */
  spec: string;
  variant?: string;
  set: string[];
  classes: number;
}

/** The CT case: 512×512×200 int16 at 0.8×0.8×2.5 mm → 1 mm, MedNeXt-S k3, patch 128³. */
export const CT_CASE: CaseWorkload = { shape: [512, 512, 200], spacing: [0.8, 0.8, 2.5], target: 1, patch: 128, step: 0.5, spec: 'examples/mednext.mnx', variant: 'S', set: ['kernel_size=3', 'n_classes=3'], classes: 3 };

/**
 * The synthetic scan, x fastest: v[i] = 2·((7919·i) mod 1000) − 999 (odd values in −999…999, never 0,
 * so cropping to the non-zero box keeps the whole volume; bench/torch_sliding.py makes the same).
 */
export function ctVolume(shape: Triple): Int16Array {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Int16Array(n);
  for (let i = 0; i < n; i++) data[i] = 2 * ((7919 * i) % 1000) - 999;
  return data;
}

/** Writes the scan as `dir/images/ct_0000.nii.gz` and a run folder with `folds` folds; returns both paths. */
export function writeCaseFiles(dir: string, w: CaseWorkload, folds = 1): { image: string; run: string } {
  const images = join(dir, 'images');
  mkdirSync(images, { recursive: true });
  const image = join(images, 'ct_0000.nii.gz');
  const [sx, sy, sz] = w.spacing;
  writeNifti(image, createImage({ shape: w.shape, data: ctVolume(w.shape), dtype: 'int16', affine: [[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]] }));
  const run = join(dir, 'run');
  const labels = Object.fromEntries(Array.from({ length: w.classes }, (_, k) => [String(k), k === 0 ? 'background' : `class${k}`]));
  writeTestRunFolder(run, {
    spec: w.spec,
    variant: w.variant,
    set: w.set,
    channels: ['CT'],
    labels,
    patch: [w.patch, w.patch, w.patch],
    targetSpacing: [w.target, w.target, w.target],
    folds: Object.fromEntries(Array.from({ length: folds }, (_, f) => [String(f), f])),
  });
  return { image, run };
}

/** Seconds of each step of one case (per-window figures are medians over the timed windows). */
export interface CaseParts {
  /** Windows per fold on the preprocessed volume, and that volume's shape. */
  windows: number;
  shape: Triple;
  read_s: number;
  preprocess_s: number;
  load_weights_s: number;
  /** One window through the network (input tensor, forward, softmax, read back), no mirroring. */
  window_s: number;
  /** The same with nnU-Net's mirroring: 2^axes network passes. */
  window_mirrored_s?: number;
  mirrors: number;
  /** Copying a window out of the volume and adding its weighted probabilities to the sums. */
  accumulate_s: number;
  result_s: number;
  export_s: number;
  /** Windows timed (without mirroring; one with mirroring). */
  timed_windows: number;
}

/** Seconds for `folds` folds with or without mirroring, from the parts: a computed figure. */
export function caseTotal(p: CaseParts, folds: number, mirror: boolean): number {
  const window = mirror ? p.window_mirrored_s : p.window_s;
  if (window === undefined) throw new Error('caseTotal: mirroring was not measured');
  return p.read_s + p.preprocess_s + folds * (p.load_weights_s + p.windows * (window + p.accumulate_s)) + p.result_s + p.export_s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

/**
 * Times each step of `predictCases` once on the case in `files` (written by writeCaseFiles), with
 * `timedWindows` windows without mirroring after one warm-up window, and one mirrored window when
 * `mirror`. Windows are taken from the middle of the grid (where the scan is), accumulated into a
 * full-size accumulator; export runs on the full-size result.
 */
export async function measureCaseParts(files: { image: string; run: string }, timedWindows: number, mirror: boolean, outDir: string, log: (l: string) => void = () => {}): Promise<CaseParts> {
  const run = RunFolder.open(files.run);
  const plans = run.plans;
  const patch = [...plans.training.patch_size] as Triple;
  const channels = plans.dataset.channels.length;
  let t = performance.now();
  const source = { images: [files.image], label: null };
  const loaded = loadCase({ id: 'ct', ...source }, false, channels);
  const read_s = seconds(t);
  log(`read ${read_s.toFixed(1)} s`);
  t = performance.now();
  const pre = preprocessLoadedCase(loaded, plans, source);
  const volume = padToPatch({ data: pre.data, channels, shape: pre.properties.shape_after_resampling }, patch);
  const preprocess_s = seconds(t);
  log(`preprocess ${preprocess_s.toFixed(1)} s → ${volume.shape.join('×')}`);
  const model = buildModel(run.ir);
  try {
    t = performance.now();
    const weightsPath = run.weightsPath('0', 'final');
    loadWeights(model, readSafetensors(weightsPath), weightsPath);
    const load_weights_s = seconds(t);
    const importance = gaussianImportanceMap(patch, plans.inference.gaussian_sigma_scale);
    const grid = windowGrid(volume.shape, patch, plans.inference.step_size);
    const acc = new ProbabilityAccumulator(volume.shape, run.classes);
    const buffer = new Float32Array(patch[0] * patch[1] * patch[2] * channels);
    const plain = modelWindowPredictor(model, patch, channels, []);
    const mid = Math.floor(grid.length / 2);
    await plain(extractPatch(volume, grid[mid]!, patch, buffer)); // warm-up: kernels set up, first allocations
    const network: number[] = [];
    const accumulate: number[] = [];
    for (let i = 0; i < timedWindows; i++) {
      const start = grid[(mid + 1 + i) % grid.length]!;
      t = performance.now();
      const x = extractPatch(volume, start, patch, buffer);
      const a = seconds(t);
      t = performance.now();
      const probabilities = await plain(x);
      network.push(seconds(t));
      t = performance.now();
      acc.add(start, patch, probabilities, importance);
      accumulate.push(a + seconds(t));
      log(`window ${i + 1}/${timedWindows}: ${network[i]!.toFixed(2)} s`);
    }
    let window_mirrored_s: number | undefined;
    const mirrors = 2 ** plans.inference.mirror_axes.length;
    if (mirror) {
      const mirrored = modelWindowPredictor(model, patch, channels, plans.inference.mirror_axes);
      t = performance.now();
      await mirrored(extractPatch(volume, grid[mid]!, patch, buffer));
      window_mirrored_s = seconds(t);
      log(`mirrored window (${mirrors} passes): ${window_mirrored_s.toFixed(2)} s`);
    }
    t = performance.now();
    const probabilities = acc.result(volume.offset, volume.original);
    const result_s = seconds(t);
    t = performance.now();
    const exported = exportProbabilities(probabilities, run.classes, pre.properties);
    writeLabelMap(join(outDir, 'ct.nii.gz'), exported, loaded.reference);
    const export_s = seconds(t);
    log(`export ${export_s.toFixed(1)} s`);
    return { windows: grid.length, shape: volume.shape, read_s, preprocess_s, load_weights_s, window_s: median(network), window_mirrored_s, mirrors, accumulate_s: median(accumulate), result_s, export_s, timed_windows: timedWindows };
  } finally {
    model.dispose();
  }
}

/** `predictCases` on the case, one fold, no mirroring: measured seconds, and the mean window time (windows 2 … n). */
export async function measureCaseFull(files: { image: string; run: string }, outDir: string, log: (l: string) => void = () => {}): Promise<{ seconds: number; windows: number; per_window_s: number }> {
  const run = RunFolder.open(files.run);
  let first = 0;
  let last = 0;
  const t0 = performance.now();
  const [r] = await predictCases({
    run,
    cases: findInputCases(files.image, 1),
    outDir,
    folds: ['0'],
    checkpoint: 'final',
    tta: false,
    postprocess: 'none',
    onWindow: ({ done, total }) => {
      const now = performance.now();
      if (done === 1) first = now;
      if (done === total) last = now;
      if (done % 16 === 0 || done === total) log(`window ${done}/${total} at ${((now - t0) / 1000).toFixed(0)} s`);
    },
  });
  // window 1's start is not observable from outside: the mean over windows 2 … n
  return { seconds: seconds(t0), windows: r!.windows, per_window_s: (last - first) / 1000 / Math.max(1, r!.windows - 1) };
}
