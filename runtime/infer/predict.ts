/**
 * `mnxc predict` as a library: every input case read from its files, predicted by predict-case.ts
 * (preprocessing as the run's plans say, sliding-window inference with every chosen fold
 * accumulated into one buffer, export onto the input's grid, post-processing; shared with the
 * browser page), and written beside the others.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MnxError, PredictError } from '../errors.js';
import type { IRModel } from '../../ir/types.js';
import { readSafetensors } from '../io/safetensors.js';
import type { Plans } from '../data/plan/plans.js';
import { loadCase } from '../data/preprocess/index.js';
import { buildModel, type MnxModel } from '../model/model.js';
import { loadWeights } from '../weights/state-dict.js';
import type { PostprocessingEntry } from './lcc.js';
import { writeLabelMap, writeProbabilities } from './export.js';
import { caseOutputs, checkOutputCollisions, type InputCase } from './inputs.js';
import { ensureWritableDir, removeStrayTempFiles } from '../io/atomic.js';
import { estimateCaseMemory, formatBytes } from './memory.js';
import { CasePredictor, checkPatch, parsePostprocessing } from './predict-case.js';

export { sizeDivisor } from './predict-case.js';

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

function loadFold(model: MnxModel, path: string): void {
  loadWeights(model, readSafetensors(path), path);
}

/** The file name of the post-processing `mnxc train` determines (in the run folder). */
export const POSTPROCESSING_FILE = 'postprocessing.json';

/** `for_which_classes` of a postprocessing.json; PredictError naming the file when it is malformed. */
export function readPostprocessing(path: string): PostprocessingEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PredictError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parsePostprocessing(text, path);
}

export async function predictCases(opts: PredictOptions): Promise<CaseResult[]> {
  const { run } = opts;
  const plans = run.plans;
  checkPatch(plans, run.ir, join(run.dir, 'plans.yaml'));
  const weightFiles = opts.folds.map((f) => run.weightsPath(f, opts.checkpoint));
  // Before any case is computed: nothing may overwrite an input, and the folder must take files.
  checkOutputCollisions(opts.cases, opts.outDir, opts.saveProbabilities);
  ensureWritableDir(opts.outDir);
  if (opts.removeStrayTemps !== false) removeStrayTempFiles(opts.outDir); // of an earlier predict that was killed while writing
  const channels = plans.dataset.channels.length;
  const regionOrder = plans.dataset.regions ? plans.dataset.regions_class_order : undefined;
  const results: CaseResult[] = [];
  const ppFile = join(run.dir, POSTPROCESSING_FILE);
  const postprocessing = (opts.postprocess ?? 'auto') === 'auto' && existsSync(ppFile) ? readPostprocessing(ppFile) : null;
  // A worker's cached network may hold this very weights file already (the same fold as the last job's).
  const slot = opts.cache ? opts.cache.take(run.ir, tf.getBackend()) : null;
  const loadCachedFold = (model: MnxModel, fi: number) => {
    const key = slot ? ModelCache.weightsKey(weightFiles[fi]!) : null;
    if (slot && key !== null && slot.weights === key) return;
    if (slot) slot.weights = null;
    loadFold(model, weightFiles[fi]!);
    if (slot) {
      slot.weights = key;
      opts.cache!.stats.weightLoads++;
    }
  };
  const predictor = new CasePredictor({
    plans,
    ir: run.ir,
    classes: run.classes,
    plansFile: join(run.dir, 'plans.yaml'),
    folds: opts.folds.length,
    loadFold: loadCachedFold,
    model: slot?.model,
    step: opts.step,
    tta: opts.tta,
    largestComponent: opts.postprocess === 'lcc',
    postprocessing,
    keepProbabilities: opts.saveProbabilities,
  });

  /** Reads a case, then predicts it; the input volumes are freed on return. */
  const predictOne = async (input: InputCase, ci: number) => {
    const source = { images: input.images, label: null };
    const loadedCase = loadCase({ id: input.id, ...source }, false, channels);
    const predicted = await predictor.predict(loadedCase, source, ({ fold, done, total }) =>
      opts.onWindow?.({ caseIndex: ci, id: input.id, fold: opts.folds[fold]!, foldIndex: fold, done, total }),
    );
    return { ...predicted, reference: loadedCase.reference };
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
      const { exported, properties: props, reference, windows, passes } = predicted;
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
        passes,
        seconds: (performance.now() - t0) / 1000,
        shape: reference.shape.slice(0, 3),
      };
      results.push(result);
      opts.onCase?.(result, ci);
    }
  } finally {
    predictor.dispose();
    if (slot) opts.cache!.give(slot);
  }
  if (failed.length) {
    throw new PredictError(`${failed.length} of ${opts.cases.length} case(s) failed${results.length ? ` (the other ${results.length} were written)` : ''}:\n  ${failed.join('\n  ')}`);
  }
  return results;
}
