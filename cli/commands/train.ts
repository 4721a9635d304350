import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { compileFromArgs, SPEC_HELP, specOptions } from '../spec-args.js';
import type { IRModel } from '../../compiler/ir/types.js';
import { computeWeightMap } from '../../compiler/passes/upkern.js';
import { BACKEND_CHOICES, useTrainingBackend, type BackendChoice } from '../../runtime/backend.js';
import { ensureSplits, loadPlans, savePlans, type Plans } from '../../runtime/data/plan/index.js';
import { listPreprocessedCases, preprocessingHash, readCaseHeader } from '../../runtime/data/preprocess/index.js';
import { ensureWritableDir, writeFileAtomic } from '../../runtime/io/atomic.js';
import { readSafetensors, type TensorMap } from '../../runtime/io/safetensors.js';
import { sha256, specHash } from '../../runtime/train/run-dir.js';
import { CheckpointError } from '../../runtime/train/checkpoint-unit.js';
import { acquireFoldLock, checkSharedRunFiles, clearFold, FoldLockError } from '../../runtime/train/fold-lock.js';
import { NonFiniteLossError, ResumeError, train } from '../../runtime/train/trainer.js';
import { applyWeightMap } from '../../runtime/weights/upkern-apply.js';

const HELP = `Usage: mnxc train PREPROCESSED_DIR --fold 0..4|all [--plans plans.yaml] [-o RUN_DIR] [options]

Trains a network on a preprocessed dataset (from 'mnxc preprocess') the way MedNeXt was trained
(nnU-Net v1 trainer with MedNeXt's changes): patches with foreground oversampling, nnU-Net's
augmentation in worker threads, Dice + cross-entropy loss with deep supervision, AdamW with the
poly learning-rate schedule and gradient clipping, validation pseudo Dice per epoch. Every value
comes from the plans (training and augmentation sections). Writes RUN_DIR/{plans.yaml,
model.ir.json, spec/, dataset.json} and RUN_DIR/fold_K/ with checkpoint_{latest,best,final}
(weights in PyTorch names and layouts), progress.json, progress.svg and training_log.txt.
Ctrl-C (SIGINT) or SIGTERM saves checkpoint_latest and stops; --continue resumes exactly.

Options:
  --fold K             0..(n_folds-1) of PREPROCESSED_DIR/splits_final.json, or 'all' (required)
  --plans FILE         plans (default: RUN_DIR/plans.yaml when continuing, else PREPROCESSED_DIR/plans.yaml)
  -o, --output DIR     run folder (default: runs/<spec name> beside PREPROCESSED_DIR)
  --spec SPEC          the network (.mnx); default: the plans' model.spec (with its variant and set)
${SPEC_HELP}
  --continue           resume from RUN_DIR/fold_K/checkpoint_latest
  --force              continue even if the spec, plans or seed changed; train on cases
                       preprocessed with other plans
  --init FILE          start from these weights (safetensors, PyTorch names and layouts)
  --upkern-from SPEC   --init holds weights of SPEC (e.g. the k3 network): resize its kernels to
                       this network first (UpKern)
  --upkern-set N=V     parameter override for --upkern-from SPEC (repeatable)
  --backend B          auto (default: tensorflow, then native, then cpu), tensorflow, native or cpu
                       (wasm has no backprop)
  --seed N             seed of the initial weights and of every batch (default: plans training.seed)
  --epochs N           override training.epochs
  --iterations N       override training.iterations_per_epoch
  --val-iterations N   override training.val_iterations_per_epoch
  --until-epoch N      stop after N epochs (checkpoint_latest saved), keeping the schedule of --epochs
  --grad-checkpoint    recompute each block in backprop (less memory; 'outside_block' specs only)
  --workers N          data-loading threads (default: CPU cores − 1, at most 4; 0 = in the main thread)

Example:
  mnxc train preprocessed --fold 0 -o runs/tiny --spec examples/tiny.mnx --epochs 10 --iterations 20`;

function intArg(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} expects a whole number ≥ ${min}, got '${v}'`);
  return n;
}

/** The parts of the plans that decide a run's result (paths to files left out). */
function plansHash(p: Plans): string {
  const { model: _model, fingerprint: _fp, ...rest } = p;
  return sha256(JSON.stringify(rest));
}

/** The fold's lock, after checking the run's shared files fit this training (UserError otherwise). */
function lockFold(runDir: string, fold: string, foldDir: string, ir: IRModel, wantHash: string) {
  try {
    checkSharedRunFiles(runDir, fold, () => specHash(JSON.parse(readFileSync(join(runDir, 'model.ir.json'), 'utf8'))) === specHash(ir), () => preprocessingHash(loadPlans(join(runDir, 'plans.yaml'))) === wantHash);
    const lock = acquireFoldLock(foldDir);
    if (lock.tookOverFrom) process.stderr.write(`warning: took over the stale lock of process ${lock.tookOverFrom.pid} (no longer running)\n`);
    return lock;
  } catch (e) {
    if (e instanceof FoldLockError) throw new UserError(e.message);
    throw e;
  }
}

export const command: Command = {
  name: 'train',
  summary: 'train a network on a preprocessed dataset (nnU-Net / MedNeXt training pipeline)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...specOptions,
      fold: { type: 'string' },
      plans: { type: 'string' },
      output: { type: 'string', short: 'o' },
      spec: { type: 'string' },
      continue: { type: 'boolean' },
      force: { type: 'boolean' },
      init: { type: 'string' },
      'upkern-from': { type: 'string' },
      'upkern-set': { type: 'string', multiple: true },
      backend: { type: 'string', default: 'auto' },
      seed: { type: 'string' },
      epochs: { type: 'string' },
      iterations: { type: 'string' },
      'val-iterations': { type: 'string' },
      'until-epoch': { type: 'string' },
      'grad-checkpoint': { type: 'boolean' },
      workers: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('expects one PREPROCESSED_DIR (made by mnxc preprocess)');
    const preDir = resolve(positionals[0]!);
    if (!values.fold) throw new UsageError('--fold K (0..4) or --fold all is required');
    if (!BACKEND_CHOICES.includes(values.backend as BackendChoice)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
    if (values.backend === 'wasm') throw new UsageError('--backend wasm cannot train (TF.js wasm has no gradients for depthwise convolutions); use tensorflow, native or cpu');
    if (values['upkern-from'] && !values.init) throw new UsageError('--upkern-from needs --init (the weights of that network)');
    if (values.continue && values.init) throw new UsageError('--continue and --init exclude each other');
    const epochs = intArg(values.epochs, '--epochs', 1);
    const iterations = intArg(values.iterations, '--iterations', 1);
    const valIterations = intArg(values['val-iterations'], '--val-iterations', 0);
    const untilEpoch = intArg(values['until-epoch'], '--until-epoch', 1);
    const workersArg = intArg(values.workers, '--workers', 0);
    const seedArg = intArg(values.seed, '--seed', 0);
    if (!existsSync(preDir)) throw new UserError(`${positionals[0]}: no such folder`);
    const ids = listPreprocessedCases(preDir);
    if (ids.length === 0) throw new UserError(`${positionals[0]}: no preprocessed cases (run mnxc preprocess first)`);

    // plans: explicit, else the run's copy when continuing, else the preprocessed folder's
    const guessRun = (spec: string) => resolve(values.output ?? join(dirname(preDir), 'runs', basename(spec, extname(spec))));
    let plansPath = values.plans ? resolve(values.plans) : join(preDir, 'plans.yaml');
    if (!values.plans && values.continue && values.output && existsSync(join(resolve(values.output), 'plans.yaml'))) plansPath = join(resolve(values.output), 'plans.yaml');
    if (!existsSync(plansPath)) throw new UserError(`${plansPath}: no plans file (pass --plans FILE)`);
    const plans = loadPlans(plansPath);
    if (epochs !== undefined) plans.training.epochs = epochs;
    if (iterations !== undefined) plans.training.iterations_per_epoch = iterations;
    if (valIterations !== undefined) plans.training.val_iterations_per_epoch = valIterations;
    if (untilEpoch !== undefined && untilEpoch > plans.training.epochs) throw new UsageError(`--until-epoch ${untilEpoch} is past the last epoch (${plans.training.epochs})`);
    const seed = seedArg ?? plans.training.seed;

    // the network
    let specPath = values.spec;
    const specValues = { ...values } as { set?: string[]; variant?: string; model?: string };
    if (!specPath) {
      if (!plans.model.spec) throw new UserError(`${plansPath}: model.spec is empty; pass --spec SPEC or set it in the plans`);
      specPath = isAbsolute(plans.model.spec) ? plans.model.spec : join(dirname(plansPath), plans.model.spec);
      specValues.variant ??= plans.model.variant;
      specValues.set = [...Object.entries(plans.model.set).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`), ...(values.set ?? [])];
    }
    const patch = plans.training.patch_size;
    const compiled = compileFromArgs(specPath, specValues, patch);
    if (!compiled.ir) throw new UserError(`${specPath}: does not compile (see the messages above)`);
    const ir = compiled.ir;
    if (ir.spatialDims !== 3) throw new UserError(`${specPath}: training supports 3-D networks only`);
    if (ir.input.channels !== plans.dataset.channels.length)
      throw new UserError(`${specPath}: the network takes ${ir.input.channels} channel(s), the plans have ${plans.dataset.channels.length}`);
    const classes = Object.keys(plans.dataset.labels).length;
    const outChannels = ir.nodes.find((n) => n.id === ir.outputs[0])!.out.channels;
    if (outChannels !== classes) throw new UserError(`${specPath}: the network predicts ${outChannels} classes, the plans have ${classes} labels (set n_classes)`);
    if (values['grad-checkpoint'] && ir.hints.checkpointStyle !== 'outside_block')
      process.stderr.write(`warning: --grad-checkpoint has no effect: ${specPath} does not ask for outside_block checkpointing\n`);

    // stale preprocessing
    const wantHash = preprocessingHash(plans);
    const stale = ids.filter((id) => readCaseHeader(preDir, id).plans_hash !== wantHash);
    if (stale.length > 0 && !values.force)
      throw new UserError(`${positionals[0]}: ${stale.length} case(s) (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}) were preprocessed with other plans than ${plansPath}; preprocess again or pass --force`);

    // fold
    let trainIds: string[], valIds: string[];
    if (values.fold === 'all') {
      trainIds = ids;
      valIds = ids;
    } else {
      const k = intArg(values.fold, '--fold', 0)!;
      const { folds } = ensureSplits(preDir, ids, plans.splits.n_folds, plans.splits.seed);
      if (k >= folds.length) throw new UsageError(`--fold ${k}: the splits have folds 0..${folds.length - 1}`);
      const known = new Set(ids);
      trainIds = folds[k]!.train.filter((id) => known.has(id));
      valIds = folds[k]!.val.filter((id) => known.has(id));
      if (trainIds.length === 0 || valIds.length === 0) throw new UserError(`fold ${k}: no preprocessed training or validation cases`);
    }

    // starting weights
    let initWeights: TensorMap | undefined;
    if (values.init) {
      const src = readSafetensors(values.init);
      if (values['upkern-from']) {
        const from = compileFromArgs(values['upkern-from'], { set: values['upkern-set'] ?? [] });
        if (!from.ir) throw new UserError(`${values['upkern-from']}: does not compile (see the messages above)`);
        const map = computeWeightMap(from.ir, ir);
        if (map.errors.length > 0) throw new UserError(`--upkern-from: the networks do not match:\n  ${map.errors.join('\n  ')}`);
        const applied = applyWeightMap(map, src, ir.parameters, { seed, what: values.init });
        for (const w of [...map.warnings, ...applied.warnings]) process.stderr.write(`warning: ${w}\n`);
        initWeights = applied.tensors;
      } else initWeights = src;
    }

    // run folder
    const runDir = guessRun(specPath);
    const foldDir = join(runDir, `fold_${values.fold}`);
    if (!values.continue && existsSync(join(foldDir, 'checkpoint_latest.json')) && !values.force)
      throw new UserError(`${foldDir}: holds a run already; pass --continue to resume it, or --force to start again over it`);
    ensureWritableDir(runDir, 'run folder');
    const lock = lockFold(runDir, values.fold, foldDir, ir, wantHash);
    try {
      if (!values.continue) clearFold(foldDir);
      mkdirSync(join(runDir, 'spec'), { recursive: true });
      savePlans(join(runDir, 'plans.yaml'), { ...plans, model: { ...plans.model, spec: relative(runDir, resolve(specPath)) } });
      writeFileAtomic(join(runDir, 'model.ir.json'), JSON.stringify(ir) + '\n');
      // the spec and every file it imports (the files the IR's nodes come from)
      const specFiles = new Set([resolve(specPath), ...ir.nodes.flatMap((n) => [n.span.file, ...n.origin.map((o) => o.span.file)]).filter((f) => f.endsWith('.mnx')).map((f) => resolve(f))]);
      for (const file of specFiles) if (existsSync(file)) writeFileAtomic(join(runDir, 'spec', basename(file)), readFileSync(file));
      const datasetJson = join(preDir, 'dataset.json');
      if (existsSync(datasetJson)) writeFileAtomic(join(runDir, 'dataset.json'), readFileSync(datasetJson));
      else
        writeFileAtomic(
          join(runDir, 'dataset.json'),
          JSON.stringify({ name: plans.dataset.name, channel_names: Object.fromEntries(plans.dataset.channels.map((c, i) => [String(i), c])), labels: Object.fromEntries(Object.entries(plans.dataset.labels).map(([v, n]) => [n, Number(v)])), numTraining: plans.dataset.num_training, file_ending: '.nii.gz' }, null, 2) + '\n',
        );
    } catch (e) {
      lock.release();
      throw e;
    }
    const backend = await useTrainingBackend(values.backend as BackendChoice).catch((e: Error) => {
      lock.release();
      throw new UserError(e.message);
    });
    const workers = workersArg ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    process.stderr.write(`backend ${backend}; ${trainIds.length} training and ${valIds.length} validation case(s); ${workers} loader thread(s); run folder ${relative(process.cwd(), runDir) || '.'}\n`);

    let stopRequested = false;
    const onSignal = (sig: string) => {
      if (stopRequested) process.exit(130);
      stopRequested = true;
      process.stderr.write(`\n${sig}: saving checkpoint_latest after this iteration (again to quit at once)\n`);
    };
    const sigint = () => onSignal('SIGINT');
    const sigterm = () => onSignal('SIGTERM');
    process.on('SIGINT', sigint);
    process.on('SIGTERM', sigterm);
    const tty = process.stderr.isTTY;
    let epochStart = performance.now();
    try {
      const result = await train({
        preprocessedDir: preDir,
        plans,
        plansHash: plansHash(plans),
        ir,
        specHash: specHash(ir),
        train: trainIds,
        val: valIds,
        fold: values.fold,
        foldDir,
        resume: values.continue === true,
        force: values.force === true,
        initWeights,
        seed,
        workers,
        // The model recomputes blocks only for specs that ask for it (hint checkpoint_style).
        gradientCheckpointing: values['grad-checkpoint'] === true || plans.training.gradient_checkpointing !== 'off',
        stopAfterEpochs: untilEpoch,
        shouldStop: () => stopRequested,
        log: (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`),
        onIteration: ({ epoch, iteration, iterations: n, loss, itPerSec, phase }) => {
          if (!tty) return;
          if (iteration === 1 && phase === 'train') epochStart = performance.now();
          const width = 24;
          const filled = Math.round((iteration / n) * width);
          const eta = itPerSec > 0 ? (n - iteration) / itPerSec : 0;
          process.stderr.write(
            `\r\x1b[Kepoch ${epoch + 1} ${phase} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${iteration}/${n} loss ${loss.toFixed(4)} ${itPerSec.toFixed(2)} it/s ETA ${eta.toFixed(0)} s (${((performance.now() - epochStart) / 1000).toFixed(0)} s)`,
          );
        },
      });
      if (result.outcome === 'interrupted') return 130;
      process.stdout.write(`${result.outcome === 'finished' ? 'finished' : 'stopped'} after ${result.state.epoch} epoch(s); best EMA pseudo Dice ${result.state.best_ema_pseudo_dice?.toFixed(4) ?? '—'} (epoch ${result.state.best_epoch === null ? '—' : result.state.best_epoch + 1}) → ${relative(process.cwd(), foldDir)}\n`);
      return 0;
    } catch (e) {
      if (e instanceof NonFiniteLossError || e instanceof ResumeError || e instanceof CheckpointError) throw new UserError(e.message);
      throw e;
    } finally {
      lock.release();
      process.off('SIGINT', sigint);
      process.off('SIGTERM', sigterm);
    }
  },
};

