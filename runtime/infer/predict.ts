/**
 * `mnxc predict` as a library: every input case through preprocessing (the run's plans), sliding-window
 * inference with every chosen fold accumulated into one buffer, and export onto the input's grid.
 * One network is built once; each fold's weights are assigned to it in turn, so only one set of
 * weights and one probability accumulator live at any time.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MnxError, PredictError } from '../errors.js';
import type { IRModel } from '../../ir/types.js';
import { readSafetensors } from '../io/safetensors.js';
import type { Plans, Triple } from '../data/plan/plans.js';
import { loadCase, preprocessLoadedCase } from '../data/preprocess/index.js';
import { buildModel, type MnxModel } from '../model/model.js';
import { loadWeights } from '../weights/state-dict.js';
import { applyPostprocessing, type PostprocessingEntry } from '../eval/postprocessing.js';
import { exportProbabilities, writeLabelMap, writeProbabilities } from './export.js';
import { gaussianImportanceMap } from './gaussian.js';
import { caseOutputs, checkOutputCollisions, type InputCase } from './inputs.js';
import { ensureWritableDir, removeStrayTempFiles } from '../io/atomic.js';
import { ProbabilityAccumulator, accumulateWindows, padToPatch } from './sliding-window.js';
import { windowGrid } from './steps.js';
import { modelWindowPredictor } from './tta.js';
import { estimateCaseMemory, formatBytes } from './memory.js';

export type CheckpointName = 'final' | 'best' | 'latest';

/** What prediction needs of a trained run (app/run-folder.ts's RunFolder is one). */
export interface PredictRun {
  /** The run folder, for messages. */
  dir: string;
  plans: Plans;
  ir: IRModel;
  /** Classes the network predicts (background included). */
  classes: number;
  /** The weights file of a fold's checkpoint (throws when it is absent). */
  weightsPath(fold: string, checkpoint: CheckpointName): string;
}

export interface PredictOptions {
  run: PredictRun;
  cases: InputCase[];
  outDir: string;
  folds: string[];
  checkpoint: CheckpointName;
  /** Window step as a fraction of the patch (default: the plans', 0.5). */
  step?: number;
  /** Mirror test-time augmentation over the plans' mirror axes (default true). */
  tta?: boolean;
  saveProbabilities?: boolean;
  /**
   * 'auto' (default): the run's postprocessing.json when there is one (what `mnxc train` determined
   * from the validation folds), else none; 'lcc': the largest component of each class; 'none'.
   */
  postprocess?: 'none' | 'lcc' | 'auto';
  onWindow?: (p: { caseIndex: number; id: string; fold: string; foldIndex: number; done: number; total: number }) => void;
  onCase?: (r: CaseResult, index: number) => void;
  /** A case whose input could not be read or preprocessed (reported, then the next case runs). */
  onFailure?: (id: string, message: string) => void;
  /** Memory one case may take (bytes; estimated from its headers before it is read). Default: no check. */
  maxMemoryBytes?: number;
  /** Keeps the built network and its loaded weights for the next call (a worker's consecutive jobs of one run). */
  cache?: ModelCache;
  /**
   * Remove temporary files an earlier, killed prediction left in outDir (default true). A queue
   * worker passes false: other machines write into the same folder, and a process id of another
   * host cannot be checked from here, so their temporary files cannot be told from a dead one's.
   */
  removeStrayTemps?: boolean;
}

/**
 * A built network, and the weights file loaded into it, kept between predictCases calls: a queue
 * worker's consecutive jobs of the same run, fold and checkpoint skip building the model and reading
 * the weights. A call takes the network out while it runs (two calls at once never share one) and
 * puts it back when done; only the last one is kept. The network is reused only for the same IR
 * (by content) on the same backend, the weights only for the same file (path, size, modification time).
 */
export class ModelCache {
  private slot: { key: string; model: MnxModel; weights: string | null } | null = null;
  /** Networks built and weight files read (for measurements and tests). */
  readonly stats = { builds: 0, reuses: 0, weightLoads: 0 };

  static weightsKey(path: string): string {
    const st = statSync(path);
    return `${path}\n${st.size}\n${st.mtimeMs}`;
  }

  take(ir: IRModel, backend: string): { key: string; model: MnxModel; weights: string | null } {
    const key = `${backend}\n${createHash('sha256').update(JSON.stringify(ir)).digest('hex')}`;
    const slot = this.slot;
    if (slot && slot.key === key) {
      this.slot = null;
      this.stats.reuses++;
      return slot;
    }
    this.stats.builds++;
    return { key, model: buildModel(ir), weights: null };
  }

  give(slot: { key: string; model: MnxModel; weights: string | null }): void {
    if (this.slot && this.slot.model !== slot.model) this.slot.model.dispose();
    this.slot = slot;
  }

  dispose(): void {
    this.slot?.model.dispose();
    this.slot = null;
  }
}

export interface CaseResult {
  id: string;
  output: string;
  probabilities?: string;
  /** Windows per fold and their count × folds × mirrors = network passes. */
  windows: number;
  passes: number;
  seconds: number;
  shape: number[];
}

/** The factor every spatial input size must be a multiple of (product of the strides on the way down). */
export function sizeDivisor(ir: IRModel): number[] {
  const factor = new Map<string, number[]>();
  const need = [1, 1, 1];
  // a 2-D network's strides are (h, w): axes 1 and 2 of the one-slice patch
  const axisOf = ir.spatialDims === 2 ? [-1, 0, 1] : [0, 1, 2];
  for (const node of ir.nodes) {
    const f = [1, 1, 1].map((_, a) => Math.max(1, ...node.inputs.map((i) => factor.get(i)?.[a] ?? 1)));
    const raw = node.attrs.stride;
    const stride = [0, 1, 2].map((a) => (axisOf[a]! < 0 ? 1 : Array.isArray(raw) ? (raw[axisOf[a]!] ?? 1) : typeof raw === 'number' ? raw : 1));
    const g = f.map((v, a) => (node.op === 'conv' || node.op === 'avg_pool' ? v * stride[a]! : node.op === 'conv_transpose' ? v / stride[a]! : v));
    factor.set(node.id, g);
    g.forEach((v, a) => (need[a] = Math.max(need[a]!, v)));
  }
  return need;
}

function loadFold(model: MnxModel, path: string): void {
  loadWeights(model, readSafetensors(path), path);
}

/** The file name of the post-processing `mnxc train` determines (in the run folder). */
export const POSTPROCESSING_FILE = 'postprocessing.json';

/** `for_which_classes` of a postprocessing.json; PredictError naming the file when it is malformed. */
export function readPostprocessing(path: string): PostprocessingEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PredictError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const list = (json as { for_which_classes?: unknown }).for_which_classes;
  const isLabel = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (!Array.isArray(list) || !list.every((e) => isLabel(e) || (Array.isArray(e) && e.length > 0 && e.every(isLabel))))
    throw new PredictError(`${path}: for_which_classes must be a list of labels or lists of labels`);
  return list as PostprocessingEntry[];
}

export async function predictCases(opts: PredictOptions): Promise<CaseResult[]> {
  const { run } = opts;
  const plans = run.plans;
  const patch = [...plans.training.patch_size] as Triple;
  const divisor = sizeDivisor(run.ir);
  if (patch.some((p, a) => p % divisor[a]! !== 0))
    throw new PredictError(`${join(run.dir, 'plans.yaml')}: training.patch_size ${patch.join('×')} is not a multiple of ${divisor.join('×')}, which the network's downsampling needs`);
  const step = opts.step ?? plans.inference.step_size;
  const mirrorAxes = (opts.tta ?? true) ? plans.inference.mirror_axes : [];
  const mirrors = 2 ** mirrorAxes.length;
  const weightFiles = opts.folds.map((f) => run.weightsPath(f, opts.checkpoint));
  // Before any case is computed: nothing may overwrite an input, and the folder must take files.
  checkOutputCollisions(opts.cases, opts.outDir, opts.saveProbabilities);
  ensureWritableDir(opts.outDir);
  if (opts.removeStrayTemps !== false) removeStrayTempFiles(opts.outDir); // of an earlier predict that was killed while writing
  const importance = gaussianImportanceMap(patch, plans.inference.gaussian_sigma_scale);
  const channels = plans.dataset.channels.length;
  const slot = opts.cache ? opts.cache.take(run.ir, tf.getBackend()) : { key: '', model: buildModel(run.ir), weights: null };
  const model = slot.model;
  const regionOrder = plans.dataset.regions ? plans.dataset.regions_class_order : undefined;
  const predictor = modelWindowPredictor(model, patch, channels, mirrorAxes, regionOrder ? 'sigmoid' : 'softmax', run.ir.spatialDims === 2);
  let loaded = -1;
  const results: CaseResult[] = [];
  const ppFile = join(run.dir, POSTPROCESSING_FILE);
  const postprocessing = (opts.postprocess ?? 'auto') === 'auto' && existsSync(ppFile) ? readPostprocessing(ppFile) : null;

  /** Reads and preprocesses a case; only the preprocessed volume and what export needs survive. */
  const prepare = (input: InputCase) => {
    const source = { images: input.images, label: null };
    const loadedCase = loadCase({ id: input.id, ...source }, false, channels);
    const pre = preprocessLoadedCase(loadedCase, plans, source);
    const volume = padToPatch({ data: pre.data, channels, shape: pre.properties.shape_after_resampling }, patch);
    return { volume, props: pre.properties, reference: loadedCase.reference };
  };

  /** Probabilities [K, preprocessed shape] of every fold, accumulated; the input volume is freed on return. */
  const predictOne = async (input: InputCase, ci: number) => {
    const { volume, props, reference } = prepare(input);
    const windows = windowGrid(volume.shape, patch, step).length;
    const acc = new ProbabilityAccumulator(volume.shape, run.classes);
    for (let fi = 0; fi < opts.folds.length; fi++) {
      if (loaded !== fi) {
        // A cached network may hold this very file already (the same fold as the last job's).
        const key = opts.cache ? ModelCache.weightsKey(weightFiles[fi]!) : null;
        if (key === null || slot.weights !== key) {
          slot.weights = null;
          loadFold(model, weightFiles[fi]!);
          slot.weights = key;
          if (opts.cache) opts.cache.stats.weightLoads++;
        }
        loaded = fi;
      }
      const fold = opts.folds[fi]!;
      await accumulateWindows(volume, predictor, acc, {
        patch,
        step,
        importance,
        onWindow: (done, total) => opts.onWindow?.({ caseIndex: ci, id: input.id, fold, foldIndex: fi, done, total }),
      });
    }
    return { probabilities: acc.result(volume.offset, volume.original), props, reference, windows };
  };
  const failed: string[] = [];
  try {
    for (let ci = 0; ci < opts.cases.length; ci++) {
      const input = opts.cases[ci]!;
      const t0 = performance.now();
      let predicted: Awaited<ReturnType<typeof predictOne>>;
      try {
        if (opts.maxMemoryBytes !== undefined) {
          const need = estimateCaseMemory(input.images, plans, run.classes);
          if (need.bytes > opts.maxMemoryBytes)
            throw new PredictError(
              `needs about ${formatBytes(need.bytes)} (${need.shape.join('×')} voxels, ${need.resampled.join('×')} after resampling to ${plans.preprocessing.target_spacing.join('×')} mm), more than the budget of ${formatBytes(opts.maxMemoryBytes)}; skipped (raise --max-memory if the machine has it)`,
            );
        }
        predicted = await predictOne(input, ci);
      } catch (e) {
        // A broken or oversized input fails its case only (whatever the error); the others are still predicted.
        const message = e instanceof MnxError ? e.message : `${(e as Error).message ?? e} (${(e as Error).name ?? 'error'})`;
        failed.push(`${input.id}: ${message}`);
        opts.onFailure?.(input.id, message);
        continue;
      }
      const { probabilities, props, reference, windows } = predicted;
      const exported = exportProbabilities(probabilities, run.classes, props, {
        keepProbabilities: opts.saveProbabilities,
        largestComponent: opts.postprocess === 'lcc',
        regionClassOrder: regionOrder,
      });
      if (postprocessing && postprocessing.length > 0) {
        // on the whole label map (x fastest: C order [z, y, x]), as nnU-Net applies it to the exported file
        const [x, y, z] = reference.shape;
        applyPostprocessing(exported.labels, [z ?? 1, y ?? 1, x ?? 1], postprocessing);
      }
      const output = caseOutputs(opts.outDir, input.id)[0]!;
      writeLabelMap(output, exported, reference);
      let probPath: string | undefined;
      if (opts.saveProbabilities) {
        probPath = caseOutputs(opts.outDir, input.id, true)[1]!;
        writeProbabilities(
          probPath,
          exported,
          props,
          plans.dataset.regions ? Object.fromEntries(plans.dataset.regions.map((r, i) => [String(i), r.name])) : plans.dataset.labels,
          regionOrder,
        );
      }
      const result: CaseResult = {
        id: input.id,
        output,
        probabilities: probPath,
        windows,
        passes: windows * opts.folds.length * mirrors,
        seconds: (performance.now() - t0) / 1000,
        shape: reference.shape.slice(0, 3),
      };
      results.push(result);
      opts.onCase?.(result, ci);
    }
  } finally {
    if (opts.cache) opts.cache.give(slot);
    else model.dispose();
  }
  if (failed.length) {
    throw new PredictError(`${failed.length} of ${opts.cases.length} case(s) failed${results.length ? ` (the other ${results.length} were written)` : ''}:\n  ${failed.join('\n  ')}`);
  }
  return results;
}
