/**
 * `mnxc demo`: the whole path on synthetic data with one command — generate → dataset check →
 * plan → preprocess → compile → train → predict → evaluate → report — calling each stage's
 * library, and writing everything under one output folder:
 *
 *   OUT/data/Dataset900_Phantom/   the generated dataset (imagesTr, labelsTr, imagesTs, labelsTs)
 *   OUT/plans.yaml, fingerprint.json
 *   OUT/preprocessed/              the training cases, preprocessed, and splits_final.json
 *   OUT/run/                       the run folder (app/run-folder.ts: plans.yaml, model.ir.json, network.json, spec/, dataset.json, fold_0/)
 *   OUT/predictions/               the test cases' label maps (NIfTI, on the input grids)
 *   OUT/summary.json, summary.csv  metrics of the predictions against labelsTs
 *   OUT/report.html                curves, metrics and slices in one self-contained page
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DemoError } from '../../runtime/errors.js';
import { useTrainingBackend, type BackendChoice, type BackendName } from '../../runtime/backend.js';
import { checkDataset, loadDataset } from '../../runtime/data/dataset/index.js';
import { readNifti } from '../../runtime/data/nifti/index.js';
import { computeFingerprint, ensureSplits, planFromFingerprint, savePlans, type Plans, type Triple } from '../../runtime/data/plan/index.js';
import { preprocessDataset } from '../../runtime/data/preprocess/index.js';
import { classesFromDatasetJson } from '../../runtime/eval/classes.js';
import { evaluateFolders, type EvaluationSummary } from '../../runtime/eval/evaluate-folder.js';
import { writeSummary } from '../../runtime/eval/report.js';
import { findInputCases, predictCases } from '../../runtime/infer/index.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { train } from '../../runtime/train/trainer.js';
import { loadNetwork } from '../network.js';
import { RunFolder, runIdentity } from '../run-folder.js';
import { EXAMPLE_DATASET_NAME, writeExampleDataset } from './example-data.js';
import { PHANTOM_LABELS } from './phantom.js';
import { writeReport, type ClassMetrics } from './report.js';

/** Everything the demo's size and length depend on. */
export interface DemoConfig {
  name: string;
  cases: number;
  testCases: number;
  seed: number;
  /** In-plane voxels of the generated grids (range). */
  inPlane: [number, number];
  slices: [number, number];
  /** Target spacing (mm, array order z, y, x). */
  targetSpacing: Triple;
  patch: Triple;
  batchSize: number;
  /** MedNeXt width (n_channels) of examples/tiny.mnx; kernel 3, one block per stage. */
  width: number;
  expansion: number;
  epochs: number;
  iterationsPerEpoch: number;
  valIterationsPerEpoch: number;
  lr: number;
  tta: boolean;
}

/** The default demo: 800 iterations on 2 CPU cores with the tensorflow backend (513 s measured on a shared 2-core machine, nnU-Net's cubic-spline augmentation included). */
export const DEMO_CONFIG: DemoConfig = {
  name: 'full',
  cases: 20,
  testCases: 5,
  seed: 0,
  inPlane: [88, 104],
  slices: [28, 36],
  targetSpacing: [2.5, 1.5, 1.5],
  patch: [16, 48, 48],
  batchSize: 2,
  width: 8,
  expansion: 2,
  epochs: 40,
  iterationsPerEpoch: 20,
  valIterationsPerEpoch: 4,
  lr: 3e-3,
  tta: true,
};

/** `--quick`: every step end to end on small, coarse data in a couple of minutes, for CI (no accuracy goal). */
export const QUICK_CONFIG: DemoConfig = {
  name: 'quick',
  cases: 5,
  testCases: 2,
  seed: 0,
  inPlane: [64, 72],
  slices: [20, 24],
  targetSpacing: [5, 2.4, 2.4],
  patch: [16, 32, 32],
  batchSize: 1,
  width: 4,
  expansion: 2,
  epochs: 2,
  iterationsPerEpoch: 3,
  valIterationsPerEpoch: 1,
  lr: 3e-3,
  tta: false,
};

export interface DemoOptions {
  out: string;
  backend: BackendChoice;
  config: DemoConfig;
  /** Progress lines (stderr in the CLI). */
  log: (line: string) => void;
}

export interface DemoResult {
  backend: BackendName;
  steps: { name: string; seconds: number }[];
  summary: EvaluationSummary;
  /** Class name → mean Dice / NSD over the test cases. */
  perClass: ClassMetrics[];
  meanDice: number;
  paths: { dataset: string; run: string; predictions: string; summary: string; report: string; progress: string };
}

const STEPS = ['generate', 'dataset check', 'plan', 'preprocess', 'compile', 'train', 'predict', 'evaluate', 'report'] as const;

/** examples/tiny.mnx and the files it imports, found beside this package. */
function exampleSpec(): string {
  return fileURLToPath(new URL('../../examples/tiny.mnx', import.meta.url));
}

/** Training needs gradients: `auto` means tensorflow, else native, else cpu (never wasm). */
async function chooseBackend(choice: BackendChoice, log: (s: string) => void): Promise<BackendName> {
  const name = await useTrainingBackend(choice);
  if (choice === 'auto' && name === 'native') log('note: the tensorflow backend is not available here (mnxc setup tensorflow builds it); using native');
  if (choice === 'auto' && name === 'cpu') {
    log('note: neither the tensorflow nor the native backend is available here (mnxc setup tensorflow / mnxc setup native);');
    log('      using the cpu backend, about 50x slower: the full demo takes hours there, `mnxc demo --quick` under a minute');
  }
  return name;
}

function refuseExisting(out: string): void {
  if (!existsSync(out)) return;
  const entries = readdirSync(out);
  if (entries.length > 0) throw new DemoError(`${out}: the output folder is not empty (it holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); remove it or give another --out`);
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const { out, config: cfg, log } = opts;
  refuseExisting(out);
  mkdirSync(out, { recursive: true });
  const steps: { name: string; seconds: number }[] = [];
  let stepIndex = 0;
  const step = async <T>(name: (typeof STEPS)[number], what: string, body: () => T | Promise<T>): Promise<T> => {
    stepIndex++;
    log(`\n[${stepIndex}/${STEPS.length}] ${name}: ${what}`);
    const t0 = performance.now();
    const result = await body();
    const seconds = (performance.now() - t0) / 1000;
    steps.push({ name, seconds });
    log(`    ${name} done in ${seconds.toFixed(1)} s`);
    return result;
  };
  const rel = (p: string) => relative(process.cwd(), p) || '.';

  const backend = await chooseBackend(opts.backend, log);
  log(`mnxc demo (${cfg.name}): backend ${backend}, output in ${rel(out)}`);

  // 1. data
  const datasetDir = await step('generate', `${cfg.cases} training and ${cfg.testCases} test phantom CT cases (seed ${cfg.seed})`, () =>
    writeExampleDataset(join(out, 'data'), {
      cases: cfg.cases,
      testCases: cfg.testCases,
      seed: cfg.seed,
      phantom: { inPlane: cfg.inPlane, slices: cfg.slices },
    }),
  );
  await step('dataset check', `${rel(datasetDir)}: layout, geometry, label values`, () => {
    const report = checkDataset(datasetDir);
    if (report.problems.length > 0) {
      throw new DemoError(`${datasetDir}: the generated dataset has problems:\n  ${report.problems.map((p) => `${p.file}: ${p.problem}`).join('\n  ')}`);
    }
    log(`    ${report.trainingCases} training and ${report.testCases} test case(s), no problems`);
  });

  // 2. plan
  const spec = exampleSpec();
  const plansPath = join(out, 'plans.yaml');
  const dataset = loadDataset(datasetDir);
  const sources = dataset.training.filter((c) => c.label !== null);
  const plans = await step('plan', `fingerprint, target spacing ${cfg.targetSpacing.join('×')} mm, patch ${cfg.patch.join('×')}`, () => {
    const labels = Object.fromEntries(Object.entries(PHANTOM_LABELS).map(([name, v]) => [String(v), name]));
    const fp = computeFingerprint({ name: EXAMPLE_DATASET_NAME, channels: dataset.channels, labels, cases: sources, channelsInOneFile: dataset.channelsInOneFile });
    writeFileAtomic(join(out, 'fingerprint.json'), JSON.stringify(fp, null, 1) + '\n');
    const p = planFromFingerprint(fp, {
      targetSpacing: cfg.targetSpacing,
      patch: cfg.patch,
      batchSize: cfg.batchSize,
      model: { spec: relative(out, spec), set: { n_channels: cfg.width, exp_r: cfg.expansion, n_classes: Object.keys(labels).length } },
    });
    p.fingerprint = 'fingerprint.json';
    applyTraining(p, cfg);
    savePlans(plansPath, p);
    const n = p.preprocessing.normalization[0]!;
    log(`    CT normalisation: clip ${n.lower?.toFixed(0)}..${n.upper?.toFixed(0)} HU, mean ${n.mean?.toFixed(1)}, std ${n.std?.toFixed(1)}; median shape ${p.preprocessing.median_shape.join('×')}`);
    return p;
  });

  // 3. preprocess
  const preDir = join(out, 'preprocessed');
  const splits = await step('preprocess', `crop, resample to ${cfg.targetSpacing.join('×')} mm, normalise`, async () => {
    const summary = await preprocessDataset({ sources, channelsInOneFile: dataset.channelsInOneFile, plans, outDir: preDir, workers: Math.min(2, sources.length) });
    if (summary.failed.length > 0) throw new DemoError(`preprocessing failed: ${summary.failed.map((f) => `${f.id}: ${f.error}`).join('; ')}`);
    savePlans(join(preDir, 'plans.yaml'), { ...plans, model: { ...plans.model, spec: relative(preDir, spec) }, fingerprint: relative(preDir, join(out, 'fingerprint.json')) });
    const ids = sources.map((s) => s.id);
    const folds = ensureSplits(preDir, ids, Math.min(plans.splits.n_folds, ids.length), plans.splits.seed).folds;
    log(`    ${summary.done.length} case(s); fold 0: ${folds[0]!.train.length} training, ${folds[0]!.val.length} validation`);
    return folds;
  });

  // 4. compile
  const runDir = join(out, 'run');
  const ir = await step('compile', `${rel(spec)} with n_channels=${cfg.width}, exp_r=${cfg.expansion}, 4 classes`, () => {
    const set = Object.entries(plans.model.set).map(([k, v]) => `${k}=${v}`);
    let messages = '';
    const network = loadNetwork(spec, { set, inputSize: [...cfg.patch] }, (text) => (messages += text));
    if (!network) throw new DemoError(`${spec}: does not compile:\n${messages}`);
    const ir = network.ir;
    const params = ir.parameters.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    log(`    ${ir.name}: ${ir.nodes.length} nodes, ${params.toLocaleString('en')} parameters, ${ir.outputs.length} output heads`);
    RunFolder.write(runDir, { plans, ir, network: network.source, datasetJson: join(datasetDir, 'dataset.json') });
    return ir;
  });

  // 5. train
  const foldDir = join(runDir, 'fold_0');
  const iterations = cfg.epochs * cfg.iterationsPerEpoch;
  const trained = await step('train', `${cfg.epochs} epochs × ${cfg.iterationsPerEpoch} iterations, batch ${cfg.batchSize}, patch ${cfg.patch.join('×')} (fold 0)`, async () => {
    let lastReport = performance.now();
    return train({
      preprocessedDir: preDir,
      plans,
      ...runIdentity(plans, ir),
      ir,
      train: splits[0]!.train,
      val: splits[0]!.val,
      fold: '0',
      foldDir,
      resume: false,
      seed: cfg.seed,
      workers: 1,
      log: (line) => log(`    ${line}`),
      onIteration: (info) => {
        // A heartbeat for long epochs on slow backends.
        if (performance.now() - lastReport > 30_000) {
          lastReport = performance.now();
          log(`    epoch ${info.epoch + 1}, ${info.phase} iteration ${info.iteration}/${info.iterations}, loss ${info.loss.toFixed(4)}, ${info.itPerSec.toFixed(2)} it/s`);
        }
      },
    });
  });
  log(`    ${iterations} iterations; ${trained.outcome}`);

  // 6. predict
  const predDir = join(out, 'predictions');
  const imagesTs = join(datasetDir, 'imagesTs');
  await step('predict', `${cfg.testCases} test case(s), sliding window${cfg.tta ? ' with mirroring' : ''}`, async () => {
    const run = RunFolder.open(runDir);
    const cases = findInputCases(imagesTs, 1);
    await predictCases({
      run,
      cases,
      outDir: predDir,
      folds: ['0'],
      checkpoint: 'final',
      tta: cfg.tta,
      onCase: (r) => log(`    ${r.id}: ${r.windows} window(s), ${r.passes} network pass(es), ${r.seconds.toFixed(1)} s`),
    });
  });

  // 7. evaluate
  const summaryPath = join(out, 'summary.json');
  const labelsTs = join(datasetDir, 'labelsTs');
  const names = Object.fromEntries(Object.entries(PHANTOM_LABELS).map(([name, v]) => [String(v), name]));
  const summary = await step('evaluate', 'Dice and normalised surface Dice (1 mm) against labelsTs', async () => {
    const s = await evaluateFolders({
      predDir,
      refDir: labelsTs,
      classes: classesFromDatasetJson(join(datasetDir, 'dataset.json')),
      tolerance: 1,
      unitSpacing: false,
      workers: 1,
    });
    writeSummary(summaryPath, s);
    return s;
  });
  const perClass: ClassMetrics[] = Object.entries(summary.mean).map(([key, m]) => ({ name: names[key] ?? key, dice: m.dice, nsd: m.nsd, hd95: m.hd95, asd: m.asd }));
  const fg = summary.foreground_mean;

  // 8. report
  const reportPath = join(out, 'report.html');
  const progressPath = join(foldDir, 'progress.svg');
  await step('report', rel(reportPath), () => {
    const first = findInputCases(imagesTs, 1)[0];
    let example = null;
    if (first) {
      const image = readNifti(first.images[0]!);
      example = {
        id: first.id,
        shape: image.shape,
        image: image.data,
        reference: readNifti(join(labelsTs, `${first.id}.nii.gz`)).data,
        prediction: readNifti(join(predDir, `${first.id}.nii.gz`)).data,
        window: [40, 400] as [number, number],
      };
    }
    const params = ir.parameters.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    writeReport(reportPath, {
      title: `mnxc demo (${cfg.name}): MedNeXt on a synthetic abdominal CT phantom`,
      labels: Object.fromEntries(Object.entries(PHANTOM_LABELS).map(([name, v]) => [v, name])),
      settings: [
        ['dataset', `${EXAMPLE_DATASET_NAME}: ${cfg.cases} training, ${cfg.testCases} test cases (seed ${cfg.seed})`],
        ['model', `${basename(spec)}: MedNeXt, n_channels ${cfg.width}, exp_r ${cfg.expansion}, kernel 3, deep supervision (${params.toLocaleString('en')} parameters)`],
        ['target spacing', `${cfg.targetSpacing.join(' × ')} mm (z, y, x)`],
        ['patch, batch', `${cfg.patch.join(' × ')}, ${cfg.batchSize}`],
        ['training', `fold 0 (${splits[0]!.train.length} train / ${splits[0]!.val.length} val cases), ${cfg.epochs} epochs × ${cfg.iterationsPerEpoch} iterations, AdamW lr ${cfg.lr}, poly schedule`],
        ['prediction', `sliding window, step 0.5, Gaussian weighting${cfg.tta ? ', mirroring (8 flips)' : ''}`],
        ['backend', backend],
      ],
      steps,
      history: trained.state.history,
      metrics: perClass,
      mean: { dice: fg.dice, nsd: fg.nsd, hd95: fg.hd95, asd: fg.asd },
      metricsNote: `Mean over ${summary.cases.length} test case(s) from labelsTs; NSD at 1 mm tolerance with the images' voxel sizes.`,
      example,
      // Paths relative to the report, which sits in the output folder.
      outputs: [
        ['predictions (NIfTI)', `${relative(out, predDir)}/`],
        ['training curves', relative(out, progressPath)],
        ['metrics', `${relative(out, summaryPath)} (and summary.csv)`],
        ['run folder', `${relative(out, runDir)}/`],
        ['dataset', `${relative(out, datasetDir)}/`],
      ],
    });
  });

  return {
    backend,
    steps,
    summary,
    perClass,
    meanDice: fg.dice,
    paths: { dataset: datasetDir, run: runDir, predictions: predDir, summary: summaryPath, report: reportPath, progress: progressPath },
  };
}

/** The demo's training length and optimiser settings, written into the plans. */
function applyTraining(p: Plans, cfg: DemoConfig): void {
  p.training.epochs = cfg.epochs;
  p.training.iterations_per_epoch = cfg.iterationsPerEpoch;
  p.training.val_iterations_per_epoch = cfg.valIterationsPerEpoch;
  p.training.optimizer.lr = cfg.lr;
  p.training.checkpoint_every = Math.max(1, Math.min(50, cfg.epochs));
  p.training.seed = cfg.seed;
}
