/**
 * A training run as a job: plans + network + fold + starting weights → a run folder, then the
 * training loop (runtime/train/trainer.ts) on one fold. `mnxc train` parses its arguments into
 * `TrainJobOptions` and prints; tests call these functions directly.
 *
 * Rules, in the order they apply:
 *   - plans: --plans FILE; else, when -o names a run folder that has plans.yaml, the run's copy
 *     (another fold, or --continue, trains with what the run was trained with); else
 *     PREPROCESSED_DIR/plans.yaml. --epochs, --iterations, --val-iterations override it.
 *   - network: --spec (an .mnx spec, or a compiled artifact: the `mnxc compile -o DIR` folder or
 *     its model.ir.json); else the run folder's own model.ir.json when it has one; else the plans'
 *     model.spec (with its variant and set). Specs compile at the plans' patch size.
 *   - run folder: -o DIR, else runs/<network name> beside PREPROCESSED_DIR; written by RunFolder.
 */
import { existsSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { JobError, JobOptionsError } from './errors.js';
import type { IRModel } from '../ir/types.js';
import { computeWeightMap } from '../compiler/passes/upkern.js';
import { useTrainingBackend, type BackendChoice, type BackendName } from '../runtime/backend.js';
import { ensureSplits, loadPlans, predictedChannels, type Plans } from '../runtime/data/plan/index.js';
import { listPreprocessedCases, preprocessingHash, readCaseHeader } from '../runtime/data/preprocess/index.js';
import { sizeDivisor } from '../runtime/infer/predict.js';
import { ensureWritableDir } from '../runtime/io/atomic.js';
import { readSafetensors, type TensorMap } from '../runtime/io/safetensors.js';
import { acquireFoldLock, checkSharedRunFiles, clearFold } from '../runtime/train/fold-lock.js';
import { specHash } from '../runtime/train/run-dir.js';
import { train, type TrainOptions, type TrainResult } from '../runtime/train/trainer.js';
import { applyWeightMap } from '../runtime/weights/upkern-apply.js';
import { IR_FILE, isCompiledArtifact, readCompiledIR, requireNetwork, type Network, type NetworkOptions } from './network.js';
import { PLANS_FILE, RunFolder, runIdentity } from './run-folder.js';

export interface TrainJobOptions {
  /** The preprocessed folder (from mnxc preprocess). */
  preprocessed: string;
  /** A fold of splits_final.json ('0', '1', …) or 'all'. */
  fold: string;
  plans?: string;
  /** The run folder (default: runs/<network name> beside the preprocessed folder). */
  output?: string;
  /** An .mnx spec or a compiled artifact (folder or model.ir.json). */
  network?: string;
  /** --set / --variant / --model for a spec; inputSize defaults to the plans' patch size. */
  networkOptions?: NetworkOptions;
  continue?: boolean;
  force?: boolean;
  /** Starting weights (safetensors, PyTorch names and layouts). */
  init?: string;
  /** `init` holds weights of this network: resize its kernels first (UpKern). */
  upkernFrom?: string;
  upkernSet?: string[];
  seed?: number;
  epochs?: number;
  iterations?: number;
  valIterations?: number;
  untilEpoch?: number;
  gradCheckpoint?: boolean;
  /** The queue job training the fold (mnxc worker): recorded in the fold's lock, which that job may take over from another host. */
  queueJob?: string;
  /** Compiler diagnostics (stderr in the CLI). */
  onDiagnostics?: (text: string) => void;
  warn?: (line: string) => void;
}

/** Everything decided before the first iteration; the run folder is written. */
export interface TrainingRun {
  preprocessedDir: string;
  plansPath: string;
  plans: Plans;
  network: Network;
  runDir: string;
  fold: string;
  foldDir: string;
  trainIds: string[];
  valIds: string[];
  seed: number;
  initWeights?: TensorMap;
  resume: boolean;
  force: boolean;
  gradientCheckpointing: boolean;
  untilEpoch?: number;
  /** Throws if another training took the fold's lock over (checked before every write). */
  checkLock(): void;
  /** Releases the fold's lock (after training, or when the caller gives up before it). */
  release(): void;
}

function networkName(path: string): string {
  const p = path.endsWith('.json') ? dirname(path) : path;
  return basename(p, extname(p));
}

function checkNetworkFitsPlans(what: string, ir: IRModel, plans: Plans): void {
  const twoD = plans.training.configuration === '2d';
  if (ir.spatialDims !== (twoD ? 2 : 3))
    throw new JobError(`${what}: the network is ${ir.spatialDims}-D, the plans' configuration is ${twoD ? '2d' : '3d'}${twoD ? ' (set dim=2d)' : ''}`);
  if (ir.input.channels !== plans.dataset.channels.length)
    throw new JobError(`${what}: the network takes ${ir.input.channels} channel(s), the plans have ${plans.dataset.channels.length}`);
  const classes = predictedChannels(plans);
  const outChannels = ir.nodes.find((n) => n.id === ir.outputs[0])!.out.channels;
  if (outChannels !== classes) throw new JobError(`${what}: the network predicts ${outChannels} classes, the plans have ${classes} ${plans.dataset.regions ? 'regions' : 'labels'} (set n_classes)`);
  // sizeDivisor is per axis of the patch ([1, h, w] for a 2-D network)
  const divisor = sizeDivisor(ir);
  if (plans.training.patch_size.some((p, a) => p % divisor[a]! !== 0))
    throw new JobError(`${what}: training.patch_size ${plans.training.patch_size.join('×')} is not a multiple of ${divisor.join('×')}, which the network's downsampling needs`);
}

/** The input size the network is compiled at: the patch, or one slice of it (H × W) in a 2-D configuration. */
function networkInputSize(plans: Plans): number[] {
  const patch = plans.training.patch_size;
  return plans.training.configuration === '2d' ? patch.slice(1) : [...patch];
}

/** Reads and checks everything a training run needs, and writes the run folder. */
export function prepareTraining(o: TrainJobOptions): TrainingRun {
  return prepare(o, false)!;
}

/**
 * Every check prepareTraining makes (folders, plans, network, fold, starting weights, a fold that
 * holds a run, the run's shared files), without taking the fold's lock or writing the run: what
 * `mnxc queue submit train` checks before it puts a fold on the queue. May write the preprocessed
 * folder's splits_final.json when it has none (as training would) and creates the run folder.
 */
export function checkTraining(o: TrainJobOptions): void {
  prepare(o, true);
}

function prepare(o: TrainJobOptions, dryRun: boolean): TrainingRun | null {
  const warn = o.warn ?? (() => {});
  const preDir = resolve(o.preprocessed);
  if (!existsSync(preDir)) throw new JobError(`${o.preprocessed}: no such folder`);
  const ids = listPreprocessedCases(preDir);
  if (ids.length === 0) throw new JobError(`${o.preprocessed}: no preprocessed cases (run mnxc preprocess first)`);
  if (o.upkernFrom && !o.init) throw new JobOptionsError('--upkern-from needs --init (the weights of that network)');
  if (o.continue && o.init) throw new JobOptionsError('--continue and --init exclude each other');

  // plans
  const explicitRun = o.output ? resolve(o.output) : undefined;
  const runHasPlans = explicitRun !== undefined && existsSync(join(explicitRun, PLANS_FILE));
  const plansPath = o.plans ? resolve(o.plans) : runHasPlans ? join(explicitRun!, PLANS_FILE) : join(preDir, PLANS_FILE);
  if (!existsSync(plansPath)) throw new JobError(`${plansPath}: no plans file (pass --plans FILE)`);
  const plans = loadPlans(plansPath);
  if (o.epochs !== undefined) plans.training.epochs = o.epochs;
  if (o.iterations !== undefined) plans.training.iterations_per_epoch = o.iterations;
  if (o.valIterations !== undefined) plans.training.val_iterations_per_epoch = o.valIterations;
  if (o.untilEpoch !== undefined && o.untilEpoch > plans.training.epochs) throw new JobOptionsError(`--until-epoch ${o.untilEpoch} is past the last epoch (${plans.training.epochs})`);
  const seed = o.seed ?? plans.training.seed;

  // network
  const patch = plans.training.patch_size;
  let network: Network;
  if (o.network) {
    network = requireNetwork(o.network, { ...o.networkOptions, inputSize: o.networkOptions?.inputSize ?? networkInputSize(plans) }, o.onDiagnostics);
  } else if (explicitRun && existsSync(join(explicitRun, IR_FILE)) && !hasNetworkOptions(o.networkOptions)) {
    network = requireNetwork(join(explicitRun, IR_FILE));
  } else {
    if (!plans.model.spec) throw new JobError(`${plansPath}: model.spec is empty; pass --spec SPEC or set it in the plans`);
    const path = isAbsolute(plans.model.spec) ? plans.model.spec : join(dirname(plansPath), plans.model.spec);
    if (isCompiledArtifact(path)) network = requireNetwork(path);
    else {
      const set = [...Object.entries(plans.model.set).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`), ...(o.networkOptions?.set ?? [])];
      network = requireNetwork(path, { ...o.networkOptions, variant: o.networkOptions?.variant ?? plans.model.variant, set, inputSize: o.networkOptions?.inputSize ?? networkInputSize(plans) }, o.onDiagnostics);
    }
  }
  const ir = network.ir;
  const what = network.source.path;
  checkNetworkFitsPlans(what, ir, plans);
  if (o.gradCheckpoint && ir.hints.checkpointStyle !== 'outside_block') warn(`--grad-checkpoint has no effect: ${what} does not ask for outside_block checkpointing`);

  // stale preprocessing
  const wantHash = preprocessingHash(plans);
  const stale = ids.filter((id) => readCaseHeader(preDir, id).plans_hash !== wantHash);
  if (stale.length > 0 && !o.force)
    throw new JobError(`${o.preprocessed}: ${stale.length} case(s) (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}) were preprocessed with other plans than ${plansPath}; preprocess again or pass --force`);

  // fold
  let trainIds: string[], valIds: string[];
  if (o.fold === 'all') {
    trainIds = ids;
    valIds = ids;
  } else {
    const k = Number(o.fold);
    if (!Number.isInteger(k) || k < 0) throw new JobOptionsError(`--fold expects 0..4 or all, got '${o.fold}'`);
    const { folds } = ensureSplits(preDir, ids, plans.splits.n_folds, plans.splits.seed);
    if (k >= folds.length) throw new JobOptionsError(`--fold ${k}: the splits have folds 0..${folds.length - 1}`);
    const known = new Set(ids);
    trainIds = folds[k]!.train.filter((id) => known.has(id));
    valIds = folds[k]!.val.filter((id) => known.has(id));
    if (trainIds.length === 0 || valIds.length === 0) throw new JobError(`fold ${k}: no preprocessed training or validation cases`);
  }

  // starting weights
  let initWeights: TensorMap | undefined;
  if (o.init) {
    const src = readSafetensors(o.init);
    if (o.upkernFrom) {
      const from = requireNetwork(o.upkernFrom, { set: o.upkernSet ?? [] }, o.onDiagnostics);
      const map = computeWeightMap(from.ir, ir);
      if (map.errors.length > 0) throw new JobError(`--upkern-from: the networks do not match:\n  ${map.errors.join('\n  ')}`);
      const applied = applyWeightMap(map, src, ir.parameters, { seed, what: o.init });
      for (const w of [...map.warnings, ...applied.warnings]) warn(w);
      initWeights = applied.tensors;
    } else initWeights = src;
  }

  // run folder
  const runDir = explicitRun ?? join(dirname(preDir), 'runs', networkName(network.source.path));
  const foldDir = join(runDir, `fold_${o.fold}`);
  if (!o.continue && existsSync(join(foldDir, 'checkpoint_latest.json')) && !o.force)
    throw new JobError(`${foldDir}: holds a run already; pass --continue to resume it, or --force to start again over it`);
  // The run folder must take files; the fold is locked against a second training of it; a run
  // whose other folds hold checkpoints keeps its network and preprocessing (even with --force).
  ensureWritableDir(runDir, 'run folder');
  checkSharedRunFiles(
    runDir,
    o.fold,
    () => specHash(readCompiledIR(join(runDir, IR_FILE)).ir) === specHash(ir),
    () => preprocessingHash(loadPlans(join(runDir, PLANS_FILE))) === wantHash,
  );
  if (dryRun) return null;
  const lock = acquireFoldLock(foldDir, undefined, o.queueJob);
  if (lock.tookOverFrom)
    warn(`took over the stale lock of process ${lock.tookOverFrom.pid}${lock.tookOverFrom.host !== hostname() ? ` on host ${lock.tookOverFrom.host} (its queue job's lock expired)` : ' (no longer running)'}`);
  try {
    // a fresh start removes what it supersedes (checkpoints, final included, progress, log)
    if (!o.continue) clearFold(foldDir);
    const datasetJson = join(preDir, 'dataset.json');
    RunFolder.write(runDir, { plans, ir, network: network.source, datasetJson: existsSync(datasetJson) ? datasetJson : null }, { force: o.force });
  } catch (e) {
    lock.release();
    throw e;
  }

  return {
    preprocessedDir: preDir,
    plansPath,
    plans,
    network,
    runDir,
    fold: o.fold,
    foldDir,
    trainIds,
    valIds,
    seed,
    initWeights,
    resume: o.continue === true,
    force: o.force === true,
    // The model recomputes blocks only for specs that ask for it (hint checkpoint_style).
    gradientCheckpointing: o.gradCheckpoint === true || plans.training.gradient_checkpointing !== 'off',
    untilEpoch: o.untilEpoch,
    checkLock: () => lock.check(),
    release: () => lock.release(),
  };
}

function hasNetworkOptions(n: TrainJobOptions['networkOptions']): boolean {
  return !!n && ((n.set?.length ?? 0) > 0 || n.variant !== undefined || n.model !== undefined || (n.inputSize ?? null) !== null);
}

/** Training needs gradients: tensorflow, native or cpu (wasm lacks some). */
export async function useBackendForTraining(choice: BackendChoice): Promise<BackendName> {
  if (choice === 'wasm') throw new JobOptionsError('--backend wasm cannot train (TF.js wasm has no gradients for depthwise convolutions); use tensorflow, native or cpu');
  return useTrainingBackend(choice);
}

/** Data-loading threads by default: CPU cores − 1, at least 1, at most 4. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export type TrainHooks = Pick<TrainOptions, 'log' | 'onIteration' | 'shouldStop' | 'workers'>;

/** Runs the prepared fold (on the backend already chosen). */
export async function runTraining(run: TrainingRun, hooks: TrainHooks): Promise<TrainResult> {
  return train({
    preprocessedDir: run.preprocessedDir,
    plans: run.plans,
    ...runIdentity(run.plans, run.network.ir),
    ir: run.network.ir,
    train: run.trainIds,
    val: run.valIds,
    fold: run.fold,
    foldDir: run.foldDir,
    resume: run.resume,
    force: run.force,
    initWeights: run.initWeights,
    seed: run.seed,
    gradientCheckpointing: run.gradientCheckpointing,
    stopAfterEpochs: run.untilEpoch,
    beforeWrite: run.checkLock,
    ...hooks,
  });
}
