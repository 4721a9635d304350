/**
 * `mnxc predict` as a library: every input case through preprocessing (the run's plans), sliding-window
 * inference with every chosen fold accumulated into one buffer, and export onto the input's grid.
 * One network is built once; each fold's weights are assigned to it in turn, so only one set of
 * weights and one probability accumulator live at any time.
 */
import { join } from 'node:path';
import { UserError } from '../../cli/errors.js';
import type { IRModel } from '../../compiler/ir/types.js';
import { SafetensorsError, readSafetensors } from '../io/safetensors.js';
import type { Triple } from '../data/plan/plans.js';
import { loadCase, preprocessLoadedCase } from '../data/preprocess/index.js';
import { buildModel, type MnxModel } from '../model/model.js';
import { WeightsError, loadWeights } from '../weights/state-dict.js';
import { exportProbabilities, writeLabelMap, writeProbabilities } from './export.js';
import { gaussianImportanceMap } from './gaussian.js';
import type { InputCase } from './inputs.js';
import { checkpointWeightsPath, type CheckpointName, type RunFolder } from './run-folder.js';
import { ProbabilityAccumulator, accumulateWindows, padToPatch } from './sliding-window.js';
import { windowGrid } from './steps.js';
import { modelWindowPredictor } from './tta.js';

export interface PredictOptions {
  run: RunFolder;
  cases: InputCase[];
  outDir: string;
  folds: string[];
  checkpoint: CheckpointName;
  /** Window step as a fraction of the patch (default: the plans', 0.5). */
  step?: number;
  /** Mirror test-time augmentation over the plans' mirror axes (default true). */
  tta?: boolean;
  saveProbabilities?: boolean;
  postprocess?: 'none' | 'lcc';
  onWindow?: (p: { caseIndex: number; id: string; fold: string; foldIndex: number; done: number; total: number }) => void;
  onCase?: (r: CaseResult, index: number) => void;
  /** A case whose input could not be read or preprocessed (reported, then the next case runs). */
  onFailure?: (id: string, message: string) => void;
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
  for (const node of ir.nodes) {
    const f = [1, 1, 1].map((_, a) => Math.max(1, ...node.inputs.map((i) => factor.get(i)?.[a] ?? 1)));
    const raw = node.attrs.stride;
    const stride = [0, 1, 2].map((a) => (Array.isArray(raw) ? (raw[a] ?? 1) : typeof raw === 'number' ? raw : 1));
    const g = f.map((v, a) => (node.op === 'conv' || node.op === 'avg_pool' ? v * stride[a]! : node.op === 'conv_transpose' ? v / stride[a]! : v));
    factor.set(node.id, g);
    g.forEach((v, a) => (need[a] = Math.max(need[a]!, v)));
  }
  return need;
}

function loadFold(model: MnxModel, path: string): void {
  try {
    loadWeights(model, readSafetensors(path), path);
  } catch (e) {
    if (e instanceof SafetensorsError || e instanceof WeightsError) throw new UserError(e.message);
    throw e;
  }
}

export async function predictCases(opts: PredictOptions): Promise<CaseResult[]> {
  const { run } = opts;
  const plans = run.plans;
  const patch = [...plans.training.patch_size] as Triple;
  const divisor = sizeDivisor(run.ir);
  if (patch.some((p, a) => p % divisor[a]! !== 0))
    throw new UserError(`${join(run.dir, 'plans.yaml')}: training.patch_size ${patch.join('×')} is not a multiple of ${divisor.join('×')}, which the network's downsampling needs`);
  const step = opts.step ?? plans.inference.step_size;
  const mirrorAxes = (opts.tta ?? true) ? plans.inference.mirror_axes : [];
  const mirrors = 2 ** mirrorAxes.length;
  const weightFiles = opts.folds.map((f) => checkpointWeightsPath(run, f, opts.checkpoint));
  const importance = gaussianImportanceMap(patch, plans.inference.gaussian_sigma_scale);
  const channels = plans.dataset.channels.length;
  const model = buildModel(run.ir);
  const predictor = modelWindowPredictor(model, patch, channels, mirrorAxes);
  let loaded = -1;
  const results: CaseResult[] = [];

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
        loadFold(model, weightFiles[fi]!);
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
        predicted = await predictOne(input, ci);
      } catch (e) {
        // A broken input file fails its case only; the others are still predicted.
        if (!(e instanceof UserError)) throw e;
        failed.push(`${input.id}: ${e.message}`);
        opts.onFailure?.(input.id, e.message);
        continue;
      }
      const { probabilities, props, reference, windows } = predicted;
      const exported = exportProbabilities(probabilities, run.classes, props, {
        keepProbabilities: opts.saveProbabilities,
        largestComponent: opts.postprocess === 'lcc',
      });
      const output = join(opts.outDir, `${input.id}.nii.gz`);
      writeLabelMap(output, exported, reference);
      let probPath: string | undefined;
      if (opts.saveProbabilities) {
        probPath = join(opts.outDir, `${input.id}.probabilities.safetensors.gz`);
        writeProbabilities(probPath, exported, props, plans.dataset.labels);
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
    model.dispose();
  }
  if (failed.length) {
    throw new UserError(`${failed.length} of ${opts.cases.length} case(s) failed${results.length ? ` (the other ${results.length} were written)` : ''}:\n  ${failed.join('\n  ')}`);
  }
  return results;
}
