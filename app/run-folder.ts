/**
 * The run folder: the one module that writes and reads it (mnxc train, mnxc demo, mnxc predict,
 * test fixtures all go through here).
 *
 *   RUN/plans.yaml       the plans the folds train with; model.spec names the run's own copy of the
 *                        network (spec/NAME.mnx, or model.ir.json for a run given a compiled IR)
 *   RUN/model.ir.json    the network, as compiled at the patch size
 *   RUN/network.json     what the network was given as: {given: spec|ir, path, set, variant, model}
 *   RUN/spec/            the .mnx files the IR was compiled from (the spec and its imports)
 *   RUN/dataset.json     labels and channels (nnU-Net's dataset.json)
 *   RUN/fold_K/          checkpoint_{latest,best,final}.* triplets (runtime/train/run-dir.ts), progress.json,
 *                        progress.svg, training_log.txt
 *
 * A checkpoint counts only when its `.json` exists: the json is written last, so its presence
 * means the weights beside it are complete. What identifies a run's training (so `--continue` and
 * another fold agree with the folds already there) is `runIdentity`: the plans without their file
 * paths, and the network's computation.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { RunFolderError } from '../runtime/errors.js';
import type { IRModel } from '../ir/types.js';
import { readDatasetJson, type DatasetJson } from '../runtime/data/dataset/index.js';
import { loadPlans, predictedChannels, savePlans, type Plans } from '../runtime/data/plan/index.js';
import { POSTPROCESSING_FILE, readPostprocessing, type CheckpointName, type PredictRun } from '../runtime/infer/predict.js';
import type { PostprocessingEntry } from '../runtime/infer/lcc.js';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { inspectUnit } from '../runtime/train/checkpoint-unit.js';
import { sha256, specHash } from '../runtime/train/run-dir.js';
import { IR_FILE, readCompiledIR, type NetworkSource } from './network.js';


export const PLANS_FILE = 'plans.yaml';
export const NETWORK_FILE = 'network.json';
export const DATASET_FILE = 'dataset.json';
export const SPEC_DIR = 'spec';
export { IR_FILE };

/** JSON with object keys sorted and undefined values left out: equal however it was built or loaded. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The plans' part of a run's identity: every value, except the two that are file paths (`model`,
 * whose network is hashed on its own by `specHash`, and `fingerprint`), in canonical JSON, so plans
 * made in memory (mnxc demo), a run's copy and the preprocessed folder's copy hash the same.
 */
export function plansHash(p: Plans): string {
  const { model: _model, fingerprint: _fp, ...rest } = p;
  return sha256(canonicalJson(rest));
}

/** What a checkpoint records and `--continue` compares: the same for every writer of run folders. */
export function runIdentity(plans: Plans, ir: IRModel): { plansHash: string; specHash: string } {
  return { plansHash: plansHash(plans), specHash: specHash(ir) };
}

/** Output channels of the full-resolution head. */
function outputChannels(ir: IRModel): number {
  const node = ir.nodes.find((n) => n.id === ir.outputs[0]);
  if (!node) throw new RunFolderError(`IR has no output ${ir.outputs[0]}`);
  return node.out.channels;
}

/** Fold folder names present in DIR (`0` … `4`, `all`), in order. */
function foldsIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^fold_(\d+|all)$/.test(e.name))
    .map((e) => e.name.slice('fold_'.length))
    .sort((a, b) => (a === 'all' ? 1 : b === 'all' ? -1 : Number(a) - Number(b)));
}

/** The dataset.json a run folder gets when the preprocessed folder has none: from the plans. */
function datasetJsonFromPlans(plans: Plans): string {
  const json = {
    name: plans.dataset.name,
    channel_names: Object.fromEntries(plans.dataset.channels.map((c, i) => [String(i), c])),
    labels: Object.fromEntries(Object.entries(plans.dataset.labels).map(([v, n]) => [n, Number(v)])),
    numTraining: plans.dataset.num_training,
    file_ending: '.nii.gz',
  };
  return JSON.stringify(json, null, 2) + '\n';
}

/** `--set` strings as the plans' model.set values (scalars only; anything else stays in network.json). */
function setAsPlans(set: string[]): Plans['model']['set'] {
  const out: Plans['model']['set'] = {};
  for (const s of set) {
    const eq = s.indexOf('=');
    if (eq <= 0) continue;
    const key = s.slice(0, eq).trim();
    const text = s.slice(eq + 1).trim();
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = text;
    }
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[key] = v;
  }
  return out;
}

export interface RunContents {
  plans: Plans;
  ir: IRModel;
  network: NetworkSource;
  /** A dataset.json to copy; null or absent: written from the plans. */
  datasetJson?: string | null;
}

export type { CheckpointName };

export class RunFolder implements PredictRun {
  private constructor(
    readonly dir: string,
    readonly plans: Plans,
    readonly ir: IRModel,
    readonly dataset: DatasetJson,
    /** What the network was given as; null for folders written before network.json existed. */
    readonly network: NetworkSource | null,
  ) {}

  /** Number of channels the network predicts (classes with background, or regions). */
  get classes(): number {
    return outputChannels(this.ir);
  }

  /** Fold folders present (`0` … `4`, `all`), in order. */
  get folds(): string[] {
    return foldsIn(this.dir);
  }

  foldDir(fold: string): string {
    return join(this.dir, `fold_${fold}`);
  }

  static exists(dir: string): boolean {
    return existsSync(join(dir, PLANS_FILE)) && existsSync(join(dir, IR_FILE));
  }

  /** Reads and checks a run folder (plans, IR, dataset.json agree with each other). */
  static open(dir: string): RunFolder {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new RunFolderError(`${dir}: not a run folder (no such directory)`);
    for (const f of [PLANS_FILE, IR_FILE, DATASET_FILE])
      if (!existsSync(join(dir, f))) throw new RunFolderError(`${join(dir, f)}: missing (a run folder written by mnxc train has plans.yaml, model.ir.json and dataset.json)`);
    const plans = loadPlans(join(dir, PLANS_FILE));
    const irPath = join(dir, IR_FILE);
    const { ir } = readCompiledIR(irPath);
    if (ir.spatialDims === 2 && plans.training.patch_size[0] !== 1)
      throw new RunFolderError(`${irPath}: the network is 2-D but plans.yaml has the 3-D patch ${plans.training.patch_size.join('×')} (a 2-D configuration's patch is 1×H×W)`);
    const dataset = readDatasetJson(dir).json;
    const classes = outputChannels(ir);
    const labels = predictedChannels(plans);
    if (classes !== labels) throw new RunFolderError(`${irPath}: the network predicts ${classes} classes but plans.yaml declares ${labels} ${plans.dataset.regions ? 'regions' : 'labels'}`);
    if (ir.input.channels !== plans.dataset.channels.length)
      throw new RunFolderError(`${irPath}: the network takes ${ir.input.channels} input channel(s) but plans.yaml declares ${plans.dataset.channels.length}`);
    let network: NetworkSource | null = null;
    const networkPath = join(dir, NETWORK_FILE);
    if (existsSync(networkPath)) {
      try {
        network = JSON.parse(readFileSync(networkPath, 'utf8')) as NetworkSource;
      } catch (e) {
        throw new RunFolderError(`${networkPath}: not valid JSON (${(e as Error).message})`);
      }
    }
    return new RunFolder(dir, plans, ir, dataset, network);
  }

  /**
   * Writes (or refreshes) the run-level files for training a fold. Refuses when folds already in
   * the folder were trained with other plans or another network, unless `force`. Given the run's
   * own model.ir.json as the network, only the plans and dataset.json are refreshed.
   */
  static write(dir: string, c: RunContents, opts: { force?: boolean } = {}): void {
    RunFolder.checkCompatible(dir, c.plans, c.ir, opts.force === true);
    mkdirSync(dir, { recursive: true });
    if (c.network.given === 'ir' && resolve(c.network.path) === resolve(join(dir, IR_FILE))) {
      // The run's own network (another fold, or --continue): its record and spec copy stay as they are.
      const model = RunFolder.exists(dir) ? loadPlans(join(dir, PLANS_FILE)).model : { spec: IR_FILE, set: {} };
      savePlans(join(dir, PLANS_FILE), { ...c.plans, model });
      writeFileAtomic(join(dir, DATASET_FILE), c.datasetJson ? readFileSync(c.datasetJson) : datasetJsonFromPlans(c.plans));
      return;
    }
    const given = c.network.given;
    let modelSpec: string;
    if (given === 'spec') {
      const root = dirname(c.network.path);
      mkdirSync(join(dir, SPEC_DIR), { recursive: true });
      // Keep imports' relative layout; a file outside the spec's folder lands at spec/ top level.
      const target = (f: string) => {
        const rel = relative(root, f);
        return join(dir, SPEC_DIR, rel.startsWith('..') || isAbsolute(rel) ? basename(f) : rel);
      };
      for (const f of c.network.files) {
        const to = target(f);
        if (resolve(to) === resolve(f)) continue;
        mkdirSync(dirname(to), { recursive: true });
        writeFileAtomic(to, readFileSync(f));
      }
      modelSpec = relative(dir, target(c.network.path));
    } else modelSpec = IR_FILE;
    const model: Plans['model'] = { spec: modelSpec, set: given === 'spec' ? setAsPlans(c.network.set) : {} };
    if (given === 'spec' && c.network.variant !== undefined) model.variant = c.network.variant;
    savePlans(join(dir, PLANS_FILE), { ...c.plans, model });
    writeFileAtomic(join(dir, IR_FILE), JSON.stringify(c.ir) + '\n');
    writeFileAtomic(join(dir, NETWORK_FILE), JSON.stringify(c.network, null, 2) + '\n');
    writeFileAtomic(join(dir, DATASET_FILE), c.datasetJson ? readFileSync(c.datasetJson) : datasetJsonFromPlans(c.plans));
  }

  /** The folds of DIR that hold a checkpoint, and how their plans / network differ from these. */
  private static checkCompatible(dir: string, plans: Plans, ir: IRModel, force: boolean): void {
    if (force || !RunFolder.exists(dir)) return;
    const trained = foldsIn(dir).filter((f) => readdirSync(join(dir, `fold_${f}`)).some((n) => /^checkpoint_\w+\.json$/.test(n)));
    if (trained.length === 0) return;
    const old = runIdentity(loadPlans(join(dir, PLANS_FILE)), readCompiledIR(join(dir, IR_FILE)).ir);
    const now = runIdentity(plans, ir);
    const problems: string[] = [];
    if (old.specHash !== now.specHash) problems.push('the network (spec) differs from the one');
    if (old.plansHash !== now.plansHash) problems.push('the plans differ from the ones');
    if (problems.length > 0)
      throw new RunFolderError(`${dir}: ${problems.join(' and ')} fold(s) ${trained.join(', ')} were trained with; give another run folder (-o), or --force to train with these anyway`);
  }

  /** The post-processing `mnxc train` determined (`for_which_classes` of postprocessing.json), or null when there is none. */
  postprocessing(): PostprocessingEntry[] | null {
    const file = join(this.dir, POSTPROCESSING_FILE);
    return existsSync(file) ? readPostprocessing(file) : null;
  }

  /** `--folds` → fold names; default: every fold folder present. */
  selectFolds(spec: string | undefined): string[] {
    const present = this.folds;
    const folds = spec === undefined ? present : spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (folds.length === 0) throw new RunFolderError(`${this.dir}: no fold_K folders (train a fold first, or name the folds with --folds)`);
    for (const f of folds) {
      if (!/^(\d+|all)$/.test(f)) throw new RunFolderError(`--folds: '${f}' is not a fold (0, 1, … or all)`);
      if (!present.includes(f)) throw new RunFolderError(`${this.foldDir(f)}: no such fold folder (present: ${present.join(', ') || 'none'})`);
    }
    return [...new Set(folds)];
  }

  /** The weights file of a fold's checkpoint; RunFolderError when the checkpoint is absent or incomplete. */
  weightsPath(fold: string, checkpoint: CheckpointName): string {
    const foldDir = this.foldDir(fold);
    const json = join(foldDir, `checkpoint_${checkpoint}.json`);
    const weights = join(foldDir, `checkpoint_${checkpoint}.weights.safetensors`);
    if (!existsSync(json) || !existsSync(weights)) {
      const present = existsSync(foldDir)
        ? readdirSync(foldDir)
            .filter((f) => /^checkpoint_\w+\.json$/.test(f))
            .map((f) => f.slice('checkpoint_'.length, -'.json'.length))
        : [];
      throw new RunFolderError(`${weights}: no complete '${checkpoint}' checkpoint in fold ${fold} (complete checkpoints: ${present.join(', ') || 'none'}; choose one with --checkpoint)`);
    }
    // the files must be the ones the json names (a save still running or killed midway is not)
    const unit = inspectUnit(foldDir, `checkpoint_${checkpoint}`);
    if (!unit.ok) throw new RunFolderError(`fold ${fold}, checkpoint '${checkpoint}' is not whole: ${unit.problem}; wait for its training to save it, or run train --continue on it to roll it back`);
    const trainedWith = unit.json?.spec_hash;
    if (typeof trainedWith === 'string' && trainedWith !== specHash(this.ir))
      throw new RunFolderError(`${json}: fold ${fold} was trained with another network than ${join(this.dir, IR_FILE)}; predict with the run folder it was trained in`);
    return weights;
  }
}
