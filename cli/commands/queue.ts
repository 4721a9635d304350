import { basename, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { RunFolder } from '../../app/run-folder.js';
import { checkTraining } from '../../app/train.js';
import { jobId, JOB_KINDS, type JobData } from '../../app/queue/jobs.js';
import { pendingPredictions, queueStatus, submitJobs, waitForQueue, type QueueStatus, type SubmitItem } from '../../app/queue/queue.js';
import { checkGeometry, pairCases } from '../../runtime/eval/evaluate-folder.js';
import { EVALUATE_OPTIONS, evaluateArgs } from './evaluate.js';
import { TRAIN_OPTIONS, trainArgs } from './train.js';
import { loadDataset } from '../../runtime/data/dataset/index.js';
import { loadPlans, relocatePlans, savePlans } from '../../runtime/data/plan/index.js';
import { findInputCases, type CheckpointName } from '../../runtime/infer/index.js';
import { intArg, parseCommandArgs, type Command } from '../command.js';
import { checkPredictArgs, PREDICT_OPTIONS } from './predict.js';
import { UsageError, UserError } from '../errors.js';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

const HELP = `Usage: mnxc queue submit preprocess|train|predict|evaluate ARGS... --redis URL [--attempts N]
       mnxc queue status --redis URL
       mnxc queue wait --redis URL [--timeout SECONDS]

Spreads work over many machines through Redis (BullMQ). 'submit' takes the same arguments as the
single-machine command and puts one job per case (preprocess, predict), per fold (train) or per
evaluation (evaluate) on the queue; 'mnxc worker' processes take them. Every path must be reachable
from every worker (a shared file system): they are stored as absolute paths. A job's id is a hash of
its kind and inputs, so submitting the same work again adds nothing (a job that failed for good is
tried again). The inputs are checked before anything is put on the queue: a missing folder, a bad
fold, an absent checkpoint is an error naming the file or option, and no job is added.

  submit predict -i IMAGES -o OUT_DIR -m RUN_DIR [--folds L] [--checkpoint C] [--step F] [--no-tta]
                 [--save-probabilities] [--postprocess auto|none|lcc]     (see mnxc predict --help)
  submit preprocess DATASET --plans plans.yaml [-o DIR]              (see mnxc preprocess --help;
                 the job that finds every case of the batch preprocessed writes splits_final.json)
  submit train PREPROCESSED_DIR --fold 0,1,..|all -o RUN_DIR [every option of mnxc train but --backend]
                 one job per fold; a fold taken up again (its worker died or was stopped) resumes from
                 its checkpoint_latest; a fold that holds a run needs --continue (resume it) or --force
                 (start it again); --no-validation skips the validation at the end, as in mnxc train
  submit evaluate --pred DIR --ref DIR -o summary.json [--labels F] [--regions R] [--tolerance MM]
                 [--unit-spacing] [--workers N]                      (see mnxc evaluate --help)
                 one job for the whole folder; submitted while predict jobs writing DIR are queued,
                 it waits for them (done or failed) and then evaluates what they wrote
  status         waiting / running / done / failed jobs per kind, and why the failed ones failed
  wait           blocks until no job is waiting or running; exit status 1 if any failed for good

  --redis URL      the Redis server, e.g. redis://127.0.0.1:6379 (required)
  --attempts N     tries per job before it is reported failed (default 3)
  --timeout S      (wait) give up after S seconds (exit 1)`;

function predictItems(argv: string[]): SubmitItem[] {
  const { values, positionals } = parseCommandArgs(argv, PREDICT_OPTIONS);
  const { input, output, model: modelArg, step } = checkPredictArgs(values, positionals);
  const model = resolve(modelArg);
  const run = RunFolder.open(model);
  const folds = run.selectFolds(values.folds);
  for (const f of folds) run.weightsPath(f, values.checkpoint as CheckpointName);
  const outDir = resolve(output);
  mkdirSync(outDir, { recursive: true });
  return findInputCases(input, run.plans.dataset.channels.length).map((c) => {
    const job: JobData = {
      kind: 'predict',
      data: {
        model,
        id: c.id,
        images: c.images.map((p) => resolve(p)),
        outDir,
        folds,
        checkpoint: values.checkpoint as CheckpointName,
        step,
        tta: !values['no-tta'],
        saveProbabilities: values['save-probabilities']!,
        postprocess: values.postprocess as 'auto' | 'none' | 'lcc',
      },
    };
    return { id: jobId('predict', c.id, job.data), job };
  });
}

function preprocessItems(argv: string[]): SubmitItem[] {
  const { values, positionals } = parseCommandArgs(argv, { plans: { type: 'string' }, output: { type: 'string', short: 'o' } });
  if (positionals.length !== 1) throw new UsageError('expects one DATASET folder');
  if (!values.plans) throw new UsageError('--plans FILE is required (make one with mnxc plan)');
  const plans = loadPlans(values.plans);
  const dataset = loadDataset(positionals[0]!);
  if (dataset.channels.length !== plans.dataset.channels.length)
    throw new UserError(`${values.plans}: plans are for ${plans.dataset.channels.length} channel(s), ${positionals[0]} has ${dataset.channels.length}`);
  const outDir = resolve(values.output ?? join(resolve(values.plans), '..', 'preprocessed'));
  // The plans travel as a file in the output folder (as mnxc preprocess leaves them there).
  const plansCopy = join(outDir, 'plans.yaml');
  savePlans(plansCopy, relocatePlans(plans, resolve(values.plans), plansCopy));
  const labelled = dataset.training.filter((c) => c.label !== null);
  const batch = labelled.map((c) => c.id);
  return labelled.map((c) => {
    const source = { id: c.id, images: c.images.map((p) => resolve(p)), label: resolve(c.label!) };
    const job: JobData = { kind: 'preprocess', data: { source, channelsInOneFile: dataset.channelsInOneFile, plans: plansCopy, outDir, batch } };
    return { id: jobId('preprocess', c.id, { ...job.data, plansText: JSON.stringify(plans) }), job };
  });
}

function trainItems(argv: string[]): SubmitItem[] {
  const { values, positionals } = parseCommandArgs(argv, TRAIN_OPTIONS);
  if (!values.output) throw new UsageError('-o RUN_DIR is required (every worker writes its fold there)');
  const folds = values.fold === undefined || values.fold === 'all' ? [values.fold] : values.fold.split(',').map((f) => f.trim());
  return folds.map((f) => {
    const { options, workers, validation } = trainArgs({ ...values, fold: f }, positionals);
    const data = {
      ...options,
      preprocessed: resolve(options.preprocessed),
      output: resolve(options.output!),
      plans: options.plans && resolve(options.plans),
      network: options.network && resolve(options.network),
      init: options.init && resolve(options.init),
      upkernFrom: options.upkernFrom && resolve(options.upkernFrom),
      workers,
      validation,
    };
    const job: JobData = { kind: 'train', data };
    // The fold as its first take would see it: resumed (--continue and a checkpoint_latest) or started.
    const latest = existsSync(join(data.output, `fold_${data.fold}`, 'checkpoint_latest.json'));
    const check = () => checkTraining({ ...data, continue: data.continue === true && latest, onDiagnostics: (t) => process.stderr.write(t) });
    return { id: jobId('train', `fold_${data.fold}`, data), job, check };
  });
}

async function evaluateItems(argv: string[], url: string): Promise<SubmitItem[]> {
  const { values, positionals } = parseCommandArgs(argv, EVALUATE_OPTIONS, false);
  const a = evaluateArgs(values, positionals);
  const pred = resolve(a.pred);
  const ref = resolve(a.ref);
  // Predictions of this folder still on the queue: the evaluation waits for them; else the folder is checked now.
  const after = await pendingPredictions(url, pred);
  if (after.length === 0) checkGeometry(pairCases(pred, ref).pairs);
  else if (!existsSync(ref)) throw new UserError(`${ref}: the reference folder does not exist`);
  const data = { pred, ref, output: resolve(a.output), classes: a.classes, tolerance: a.tolerance, unitSpacing: a.unitSpacing, workers: a.workers };
  const job: JobData = { kind: 'evaluate', data: { ...data, after } };
  // The id leaves out which predictions it waits for: the same evaluation submitted later is the same job.
  return [{ id: jobId('evaluate', basename(data.output), data), job }];
}

function bar(done: number, total: number, width = 20): string {
  const n = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

function formatStatus(s: QueueStatus): string {
  const lines = ['kind        waiting  running  done  failed'];
  for (const k of JOB_KINDS) {
    const c = s.kinds[k];
    const total = c.waiting + c.active + c.done + c.failed;
    if (total === 0) continue;
    lines.push(`${k.padEnd(10)} ${String(c.waiting).padStart(8)} ${String(c.active).padStart(8)} ${String(c.done).padStart(5)} ${String(c.failed).padStart(7)}  ${bar(c.done + c.failed, total)}`);
  }
  if (lines.length === 1) lines.push('(no jobs)');
  for (const f of s.failures) lines.push(`failed: ${f.id} after ${f.attempts} attempt(s): ${f.reason.split('\n').join(' ')}`);
  return lines.join('\n') + '\n';
}

export const command: Command = {
  name: 'queue',
  summary: 'put preprocessing, training and prediction jobs on Redis for mnxc worker processes; watch them',
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    const common = { redis: { type: 'string' }, attempts: { type: 'string' }, timeout: { type: 'string' } } as const;
    // --redis/--attempts/--timeout are taken out first; the rest goes to the single-machine command's parser.
    const own: string[] = [];
    const others: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      const name = a.startsWith('--') ? a.slice(2).split('=')[0]! : '';
      if (name in common) {
        own.push(a);
        if (!a.includes('=') && i + 1 < rest.length) own.push(rest[++i]!);
      } else others.push(a);
    }
    const { values } = parseCommandArgs(own, common, false);
    if (!values.redis) throw new UsageError('--redis URL is required (e.g. redis://127.0.0.1:6379)');
    const url = values.redis;
    if (sub === 'submit') {
      const [kind, ...args] = others;
      const attempts = intArg(values.attempts, '--attempts', 1) ?? 3;
      let items: SubmitItem[];
      if (kind === 'predict') items = predictItems(args);
      else if (kind === 'preprocess') items = preprocessItems(args);
      else if (kind === 'train') items = trainItems(args);
      else if (kind === 'evaluate') items = await evaluateItems(args, url);
      else throw new UsageError(`submit expects preprocess, train, predict or evaluate, got '${kind ?? ''}'`);
      const r = await submitJobs(url, items, { attempts });
      process.stdout.write(`${kind}: ${r.added.length} job(s) added, ${r.existing.length} already queued or done, ${r.retried.length} failed one(s) put back\n`);
      return 0;
    }
    if (others.length > 0) throw new UsageError(`unexpected argument '${others[0]}'`);
    if (sub === 'status') {
      process.stdout.write(formatStatus(await queueStatus(url)));
      return 0;
    }
    if (sub === 'wait') {
      const timeout = intArg(values.timeout, '--timeout', 1);
      let last = '';
      const s = await waitForQueue(url, {
        timeoutMs: timeout === undefined ? undefined : timeout * 1000,
        onStatus: (st) => {
          const text = formatStatus(st);
          if (text !== last && process.stderr.isTTY) process.stderr.write(text);
          last = text;
        },
      });
      process.stdout.write(formatStatus(s));
      return s.failures.length > 0 ? 1 : 0;
    }
    throw new UsageError(`expects submit, status or wait, got '${sub ?? ''}'`);
  },
};
