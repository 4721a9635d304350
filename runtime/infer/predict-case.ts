/**
 * One case through a trained network, in memory: preprocessing as the run's plans say, sliding-window
 * inference with every fold accumulated into one buffer (Gaussian weighting, optional mirroring),
 * export onto the input's grid, then the run's post-processing. No file access: `mnxc predict`
 * (predict.ts) reads the files and writes the results around it, and the browser page
 * (runtime/browser/segment.ts) runs the very same code on a dropped file.
 *
 * One network is built once; each fold's weights are assigned to it in turn (`loadFold`), so only one
 * set of weights and one probability accumulator live at any time.
 */
import type { IRModel } from '../../ir/types.js';
import { PredictError } from '../errors.js';
import type { Plans, Triple } from '../data/plan/plans.js';
import type { LoadedCase } from '../data/preprocess/case.js';
import { preprocessLoadedCase } from '../data/preprocess/pipeline.js';
import type { CaseProperties } from '../data/preprocess/store.js';
import { buildModel, type MnxModel } from '../model/model.js';
import { gaussianImportanceMap } from './gaussian.js';
import { exportProbabilities, type ExportedCase } from './labels.js';
import { applyPostprocessing, type PostprocessingEntry } from './lcc.js';
import { ProbabilityAccumulator, accumulateWindows, padToPatch } from './sliding-window.js';
import { windowGrid } from './steps.js';
import { modelWindowPredictor } from './tta.js';

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

/** PredictError naming `plansFile` when the plans' patch does not fit the network's downsampling. */
export function checkPatch(plans: Plans, ir: IRModel, plansFile: string): void {
  const patch = plans.training.patch_size;
  const divisor = sizeDivisor(ir);
  if (patch.some((p, a) => p % divisor[a]! !== 0))
    throw new PredictError(`${plansFile}: training.patch_size ${patch.join('×')} is not a multiple of ${divisor.join('×')}, which the network's downsampling needs`);
}

/**
 * `for_which_classes` of a postprocessing.json's text; PredictError naming `file` when it is
 * malformed.
 */
export function parsePostprocessing(text: string, file: string): PostprocessingEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PredictError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const list = (json as { for_which_classes?: unknown } | null)?.for_which_classes;
  const isLabel = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (!Array.isArray(list) || !list.every((e) => isLabel(e) || (Array.isArray(e) && e.length > 0 && e.every(isLabel))))
    throw new PredictError(`${file}: for_which_classes must be a list of labels or lists of labels`);
  return list as PostprocessingEntry[];
}

export interface CasePredictorSetup {
  plans: Plans;
  ir: IRModel;
  /** Classes the network predicts (background included). */
  classes: number;
  /** Where the plans came from, for messages. */
  plansFile: string;
  /** How many folds are ensembled. */
  folds: number;
  /** Assigns fold `index`'s weights to `model` (called only when another fold's are loaded). */
  loadFold: (model: MnxModel, index: number) => void | Promise<void>;
  /** Window step as a fraction of the patch (default: the plans'). */
  step?: number;
  /** Mirror test-time augmentation over the plans' mirror axes (default true). */
  tta?: boolean;
  /** Keep the largest component of each class (`--postprocess lcc`). */
  largestComponent?: boolean;
  /** The run's post-processing (`for_which_classes` of its postprocessing.json), applied to the label map. */
  postprocessing?: readonly PostprocessingEntry[] | null;
  /** Keep the probabilities on the cropped original grid (ExportedCase.probabilities). */
  keepProbabilities?: boolean;
  /** A network already built from `ir` (a worker's cached one); the predictor then does not dispose it. */
  model?: MnxModel;
}

export interface WindowProgress {
  fold: number;
  done: number;
  total: number;
}

export interface CasePrediction {
  exported: ExportedCase;
  properties: CaseProperties;
  /** Windows per fold; network passes = windows × folds × mirrors. */
  windows: number;
  passes: number;
}

export class CasePredictor {
  readonly patch: Triple;
  readonly step: number;
  readonly mirrors: number;
  private readonly model: MnxModel;
  private readonly predictor: ReturnType<typeof modelWindowPredictor>;
  private readonly importance: Float32Array;
  private readonly regionOrder: readonly number[] | undefined;
  private loaded = -1;

  constructor(private readonly setup: CasePredictorSetup) {
    const { plans, ir } = setup;
    checkPatch(plans, ir, setup.plansFile);
    this.patch = [...plans.training.patch_size] as Triple;
    this.step = setup.step ?? plans.inference.step_size;
    const mirrorAxes = (setup.tta ?? true) ? plans.inference.mirror_axes : [];
    this.mirrors = 2 ** mirrorAxes.length;
    this.importance = gaussianImportanceMap(this.patch, plans.inference.gaussian_sigma_scale);
    this.regionOrder = plans.dataset.regions ? plans.dataset.regions_class_order : undefined;
    this.model = setup.model ?? buildModel(ir);
    this.predictor = modelWindowPredictor(this.model, this.patch, plans.dataset.channels.length, mirrorAxes, this.regionOrder ? 'sigmoid' : 'softmax', ir.spatialDims === 2);
  }

  /** Probabilities [K, preprocessed shape] of every fold, accumulated; the input volume is freed on return. */
  private async probabilities(c: LoadedCase, source: CaseProperties['source'], onWindow?: (p: WindowProgress) => void | Promise<void>) {
    const { plans, classes, folds } = this.setup;
    const pre = preprocessLoadedCase(c, plans, source);
    const volume = padToPatch({ data: pre.data, channels: plans.dataset.channels.length, shape: pre.properties.shape_after_resampling }, this.patch);
    const windows = windowGrid(volume.shape, this.patch, this.step).length;
    const acc = new ProbabilityAccumulator(volume.shape, classes);
    for (let fi = 0; fi < folds; fi++) {
      if (this.loaded !== fi) {
        this.loaded = -1;
        await this.setup.loadFold(this.model, fi);
        this.loaded = fi;
      }
      await accumulateWindows(volume, this.predictor, acc, {
        patch: this.patch,
        step: this.step,
        importance: this.importance,
        onWindow: (done, total) => onWindow?.({ fold: fi, done, total }),
      });
    }
    return { probabilities: acc.result(volume.offset, volume.original), properties: pre.properties, windows };
  }

  /** The label map of a loaded case on its own grid (and its probabilities when kept). */
  async predict(c: LoadedCase, source: CaseProperties['source'], onWindow?: (p: WindowProgress) => void | Promise<void>): Promise<CasePrediction> {
    const { probabilities, properties, windows } = await this.probabilities(c, source, onWindow);
    const exported = exportProbabilities(probabilities, this.setup.classes, properties, {
      keepProbabilities: this.setup.keepProbabilities,
      largestComponent: this.setup.largestComponent,
      regionClassOrder: this.regionOrder,
    });
    const pp = this.setup.postprocessing;
    if (pp && pp.length > 0) {
      // on the whole label map (x fastest: C order [z, y, x]), as nnU-Net applies it to the exported file
      const [x, y, z] = c.reference.shape;
      applyPostprocessing(exported.labels, [z ?? 1, y ?? 1, x ?? 1], pp);
    }
    return { exported, properties, windows, passes: windows * this.setup.folds * this.mirrors };
  }

  dispose(): void {
    if (!this.setup.model) this.model.dispose();
  }
}
