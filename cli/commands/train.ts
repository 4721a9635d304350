import { join, relative } from 'node:path';
import { validateFold } from '../../app/validate.js';
import { defaultWorkers, prepareTraining, runTraining, useBackendForTraining, type TrainJobOptions } from '../../app/train.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../runtime/backend.js';
import { intArg, parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { ProgressBar } from '../../runtime/io/progress.js';
import { parseSize, SPEC_HELP, specOptions } from '../spec-args.js';

const HELP = `Usage: mnxc train PREPROCESSED_DIR --fold 0..4|all [--plans plans.yaml] [-o RUN_DIR] [options]

Trains a network on a preprocessed dataset (from 'mnxc preprocess') the way MedNeXt was trained
(nnU-Net v1 trainer with MedNeXt's changes): patches with foreground oversampling, nnU-Net's
augmentation in worker threads, Dice + cross-entropy loss with deep supervision, AdamW with the
poly learning-rate schedule and gradient clipping, validation pseudo Dice per epoch. Every value
comes from the plans (training and augmentation sections). Writes RUN_DIR/{plans.yaml,
model.ir.json, network.json, spec/, dataset.json} and RUN_DIR/fold_K/ with checkpoint_{latest,best,final}
(weights in PyTorch names and layouts), progress.json, progress.svg and training_log.txt.
Ctrl-C (SIGINT) or SIGTERM saves checkpoint_latest and stops; --continue resumes exactly.
When the schedule finishes, the fold's validation cases are predicted in full from their images
(sliding window, mirroring) into fold_K/validation_raw/ and evaluated (summary.json, as mnxc
evaluate), and the post-processing is determined across the folds validated so far
(RUN_DIR/postprocessing.json, applied by mnxc predict), as nnU-Net does.

Options:
  --fold K             0..(n_folds-1) of PREPROCESSED_DIR/splits_final.json, or 'all' (required)
  --plans FILE         plans (default: RUN_DIR/plans.yaml when RUN_DIR holds a run, else PREPROCESSED_DIR/plans.yaml)
  -o, --output DIR     run folder (default: runs/<spec name> beside PREPROCESSED_DIR)
  --spec SPEC          the network: an .mnx spec, or a compiled model (the folder 'mnxc compile -o DIR'
                       writes, or its model.ir.json); default: RUN_DIR/model.ir.json when RUN_DIR holds
                       a run, else the plans' model.spec (with its variant and set)
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
  --no-validation      skip the full validation and post-processing determination at the end

Example:
  mnxc train preprocessed --fold 0 -o runs/tiny --spec examples/tiny.mnx --epochs 10 --iterations 20`;

/** The options of a training run, shared by `mnxc train` and `mnxc queue submit train` (which adds no --backend: that is the worker's). */
export const TRAIN_OPTIONS = {
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
  seed: { type: 'string' },
  epochs: { type: 'string' },
  iterations: { type: 'string' },
  'val-iterations': { type: 'string' },
  'until-epoch': { type: 'string' },
  'grad-checkpoint': { type: 'boolean' },
  workers: { type: 'string' },
  'no-validation': { type: 'boolean' },
} as const;

type TrainValues = { [K in keyof typeof TRAIN_OPTIONS]?: (typeof TRAIN_OPTIONS)[K] extends { multiple: true } ? string[] : (typeof TRAIN_OPTIONS)[K] extends { type: 'boolean' } ? boolean : string };

/** TRAIN_OPTIONS' values checked (UsageError naming the option) and turned into prepareTraining's options (one --fold). */
export function trainArgs(values: TrainValues, positionals: string[]): { options: TrainJobOptions; workers: number; validation: boolean } {
  if (positionals.length !== 1) throw new UsageError('expects one PREPROCESSED_DIR (made by mnxc preprocess)');
  if (!values.fold) throw new UsageError('--fold K (0..4) or --fold all is required');
  const fold = values.fold === 'all' ? 'all' : String(intArg(values.fold, '--fold', 0));
  return {
    options: {
      preprocessed: positionals[0]!,
      fold,
      plans: values.plans,
      output: values.output,
      network: values.spec,
      networkOptions: { set: values.set, variant: values.variant, model: values.model, inputSize: parseSize(values['input-size']) },
      continue: values.continue,
      force: values.force,
      init: values.init,
      upkernFrom: values['upkern-from'],
      upkernSet: values['upkern-set'],
      seed: intArg(values.seed, '--seed', 0),
      epochs: intArg(values.epochs, '--epochs', 1),
      iterations: intArg(values.iterations, '--iterations', 1),
      valIterations: intArg(values['val-iterations'], '--val-iterations', 0),
      untilEpoch: intArg(values['until-epoch'], '--until-epoch', 1),
      gradCheckpoint: values['grad-checkpoint'],
    },
    workers: intArg(values.workers, '--workers', 0) ?? defaultWorkers(),
    validation: !values['no-validation'],
  };
}

export const command: Command = {
  name: 'train',
  summary: 'train a network on a preprocessed dataset (nnU-Net / MedNeXt training pipeline)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { ...TRAIN_OPTIONS, backend: { type: 'string', default: 'auto' } });
    if (!BACKEND_CHOICES.includes(values.backend as BackendChoice)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
    if (values.backend === 'wasm') throw new UsageError('--backend wasm cannot train (TF.js wasm has no gradients for depthwise convolutions); use tensorflow, native or cpu');
    const { options, workers } = trainArgs(values, positionals);
    const run = prepareTraining({
      ...options,
      onDiagnostics: (text) => process.stderr.write(text),
      warn: (line) => process.stderr.write(`warning: ${line}\n`),
    });
    let backend: string;
    try {
      backend = await useBackendForTraining(values.backend as BackendChoice);
    } catch (e) {
      run.release();
      throw e;
    }
    process.stderr.write(`backend ${backend}; ${run.trainIds.length} training and ${run.valIds.length} validation case(s); ${workers} loader thread(s); run folder ${relative(process.cwd(), run.runDir) || '.'}\n`);

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
    const bar = new ProgressBar({ onlyOnTerminal: true });
    let epochStart = performance.now();
    try {
      const result = await runTraining(run, {
        workers,
        shouldStop: () => stopRequested,
        log: (line) => bar.log(line),
        onIteration: ({ epoch, iteration, iterations: n, loss, itPerSec, phase }) => {
          if (iteration === 1 && phase === 'train') epochStart = performance.now();
          const eta = itPerSec > 0 ? (n - iteration) / itPerSec : 0;
          bar.show(
            iteration / n,
            `epoch ${epoch + 1} ${phase}`,
            `${iteration}/${n} loss ${loss.toFixed(4)} ${itPerSec.toFixed(2)} it/s ETA ${eta.toFixed(0)} s (${((performance.now() - epochStart) / 1000).toFixed(0)} s)`,
          );
        },
      });
      if (result.outcome === 'interrupted') return 130;
      process.stdout.write(`${result.outcome === 'finished' ? 'finished' : 'stopped'} after ${result.state.epoch} epoch(s); best EMA pseudo Dice ${result.state.best_ema_pseudo_dice?.toFixed(4) ?? '—'} (epoch ${result.state.best_epoch === null ? '—' : result.state.best_epoch + 1}) → ${relative(process.cwd(), run.foldDir)}\n`);
      if (result.outcome === 'finished' && !values['no-validation']) {
        const v = await validateFold({ runDir: run.runDir, fold: run.fold, preprocessedDir: run.preprocessedDir, valIds: run.valIds, log: (line) => bar.log(line) });
        const dice = Object.entries(v.summary.mean).map(([c, m]) => `${c} ${m.dice.toFixed(4)}`).join(', ');
        process.stdout.write(`validation: Dice ${dice} (mean ${v.summary.foreground_mean.dice.toFixed(4)}) → ${relative(process.cwd(), v.summaryPath)}\n`);
        if (v.postprocessing)
          process.stdout.write(`postprocessing (folds ${v.postprocessing.folds.join(', ')}): keep the largest component for ${JSON.stringify(v.postprocessing.for_which_classes)} → ${relative(process.cwd(), join(run.runDir, 'postprocessing.json'))}\n`);
      }
      return 0;
    } finally {
      run.release();
      process.off('SIGINT', sigint);
      process.off('SIGTERM', sigterm);
    }
  },
};
