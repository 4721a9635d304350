import { relative } from 'node:path';
import { ensureWritableDir } from '../../runtime/io/atomic.js';
import { defaultMemoryBudget, parseMemorySize } from '../../runtime/infer/memory.js';
import { BACKEND_CHOICES, useBackend, type BackendChoice } from '../../runtime/backend.js';
import { RunFolder } from '../../app/run-folder.js';
import { PredictProgress, findInputCases, predictCases, type CheckpointName } from '../../runtime/infer/index.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';

const HELP = `Usage: mnxc predict -i IMAGES -o OUT_DIR -m RUN_DIR [--folds 0,1,2,3,4|all]
                    [--checkpoint final|best|latest] [--step 0.5] [--no-tta] [--save-probabilities]
                    [--postprocess auto|none|lcc] [--backend auto|tensorflow|native|wasm|cpu]

Segments images with a trained run folder (written by mnxc train), the nnU-Net way:
  1. preprocess each case exactly as in training (the run's plans.yaml: crop to the non-zero box,
     resample to the target spacing, normalise);
  2. slide the training patch over the volume (step 0.5 of the patch: n = ceil((S-P)/(step*P)) + 1
     windows per axis, evenly spread), weight each window's softmax by a Gaussian (sigma = patch/8),
     with test-time mirroring over all 8 flip combinations, and average the folds' probabilities;
  3. resample the probabilities back to the cropped original grid (linear), take the argmax, paste
     into the crop box, and write OUT_DIR/{case}.nii.gz (uint8; uint16 past 256 classes) with the
     input image's affine, qform/sform codes and voxel sizes.

  -i, --input PATH         a folder of {case}_{XXXX}.nii.gz (one file per channel, as imagesTs),
                           or a single .nii.gz file (one channel)
  -o, --output DIR         where the label maps go (created if needed)
  -m, --model DIR          the run folder (plans.yaml, model.ir.json, dataset.json, fold_K/)
  --folds LIST             comma-separated folds, e.g. 0,1,2,3,4 or all (default: every fold_K present)
  --checkpoint NAME        final (default), best or latest
  --step F                 window step as a fraction of the patch, in (0, 1] (default: the plans', 0.5)
  --no-tta                 no mirroring (8× fewer network passes)
  --save-probabilities     also write {case}.probabilities.safetensors.gz: gzip-compressed safetensors,
                           tensor 'probabilities' float32 [K, z, y, x] on the cropped original grid,
                           metadata crop_box and original_shape (array order) to paste it back
  --postprocess MODE       auto (default: the run's postprocessing.json, which mnxc train determines from
                           the validation folds, when present), none, or lcc: keep the largest connected
                           component of each class
  --backend B              auto (default: tensorflow, then native, wasm, cpu), tensorflow, native, wasm or cpu
  --max-memory SIZE        memory one case may take, e.g. 8G or 512M (default: 3/4 of the machine's or
                           the container's memory); a case estimated (from its header, after the plans'
                           resampling) to need more is skipped with the figure, and the others go on`;

/** The options of a prediction, shared by `mnxc predict` and `mnxc queue submit predict`. */
export const PREDICT_OPTIONS = {
  input: { type: 'string', short: 'i' },
  output: { type: 'string', short: 'o' },
  model: { type: 'string', short: 'm' },
  folds: { type: 'string' },
  checkpoint: { type: 'string', default: 'final' },
  step: { type: 'string' },
  'no-tta': { type: 'boolean', default: false },
  'save-probabilities': { type: 'boolean', default: false },
  postprocess: { type: 'string', default: 'auto' },
} as const;

/** Checks PREDICT_OPTIONS' values (UsageError naming the option); the step size when given. */
export function checkPredictArgs(
  values: { input?: string; output?: string; model?: string; checkpoint?: string; postprocess?: string; step?: string },
  positionals: string[],
): { input: string; output: string; model: string; step: number | undefined } {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (give the images with -i)`);
  if (!values.input) throw new UsageError('missing -i IMAGES (a folder of {case}_{XXXX}.nii.gz or one .nii.gz file)');
  if (!values.output) throw new UsageError('missing -o OUT_DIR');
  if (!values.model) throw new UsageError('missing -m RUN_DIR (a run folder written by mnxc train)');
  if (!['final', 'best', 'latest'].includes(values.checkpoint!)) throw new UsageError(`--checkpoint must be final, best or latest, got '${values.checkpoint}'`);
  if (!['auto', 'none', 'lcc'].includes(values.postprocess!)) throw new UsageError(`--postprocess must be auto, none or lcc, got '${values.postprocess}'`);
  const checked = { input: values.input, output: values.output, model: values.model };
  if (values.step === undefined) return { ...checked, step: undefined };
  const step = Number(values.step);
  if (!(step > 0 && step <= 1)) throw new UsageError(`--step expects a number in (0, 1], got '${values.step}'`);
  return { ...checked, step };
}

export const command: Command = {
  name: 'predict',
  summary: 'segment images with a trained run (sliding window, mirroring, fold ensemble)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...PREDICT_OPTIONS,
      backend: { type: 'string', default: 'auto' },
      'max-memory': { type: 'string' },
    });
    const { input, output, model, step } = checkPredictArgs(values, positionals);
    if (!BACKEND_CHOICES.includes(values.backend as BackendChoice)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);

    const maxMemoryBytes = values['max-memory'] === undefined ? defaultMemoryBudget() : parseMemorySize(values['max-memory']);
    if (maxMemoryBytes === null) throw new UsageError(`--max-memory expects a size like 8G or 512M, got '${values['max-memory']}'`);
    const run = RunFolder.open(model);
    const folds = run.selectFolds(values.folds);
    // Every checkpoint is checked before anything is written.
    for (const f of folds) run.weightsPath(f, values.checkpoint as CheckpointName);
    const cases = findInputCases(input, run.plans.dataset.channels.length);
    const backend = await useBackend(values.backend as BackendChoice);
    const tta = !values['no-tta'];
    process.stderr.write(
      `backend: ${backend}; ${cases.length} case(s), fold(s) ${folds.join(',')} (${values.checkpoint}), patch ${run.plans.training.patch_size.join('×')}, ` +
        `step ${step ?? run.plans.inference.step_size}, mirroring ${tta ? `axes ${run.plans.inference.mirror_axes.join(',')}` : 'off'}\n`,
    );
    ensureWritableDir(output);
    const progress = new PredictProgress(cases.length);
    const t0 = performance.now();
    const results = await predictCases({
      run,
      cases,
      outDir: output,
      folds,
      checkpoint: values.checkpoint as CheckpointName,
      step,
      tta,
      saveProbabilities: values['save-probabilities'],
      postprocess: values.postprocess as 'auto' | 'none' | 'lcc',
      maxMemoryBytes,
      onWindow: (p) => progress.window(p.caseIndex, p.id, p.fold, p.done, p.total, folds.length, p.foldIndex),
      onFailure: (id, message) => progress.log(`${id}: failed: ${message}`),
      onCase: (r) => progress.log(`${r.id}: ${r.shape.join('×')}, ${r.windows} window(s) × ${folds.length} fold(s), ${r.passes} network passes, ${r.seconds.toFixed(1)} s → ${relative(process.cwd(), r.output)}`),
    });
    const seconds = (performance.now() - t0) / 1000;
    process.stderr.write(`${results.length} case(s) predicted in ${seconds.toFixed(1)} s → ${relative(process.cwd(), output) || '.'}\n`);
    return 0;
  },
};
