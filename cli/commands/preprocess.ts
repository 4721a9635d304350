import { dirname, join, relative, resolve } from 'node:path';
import { ensureWritableDir } from '../../runtime/io/atomic.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { loadDataset } from '../../runtime/data/dataset/index.js';
import { ensureSplits, loadPlans, relocatePlans, savePlans } from '../../runtime/data/plan/index.js';
import { listPreprocessedCases, preprocessDataset } from '../../runtime/data/preprocess/index.js';
import { Progress } from '../../runtime/io/progress.js';

const HELP = `Usage: mnxc preprocess DATASET --plans plans.yaml [-o DIR] [--workers N]

Preprocesses every training case of DATASET as nnU-Net does: crop to the non-zero box, resample to
the plans' target spacing (images: cubic spline; labels: linear per label; anisotropic data:
in-plane only, nearest neighbour along the coarse axis), normalise per channel, and sample up to
10 000 foreground voxel positions per class. Each case is stored in DIR as {id}.json (shapes and
every property needed to map predictions back), {id}.data.f32 (float32 [C, z, y, x]) and
{id}.seg.i8 (int8 [z, y, x], −1 outside the body). Also writes DIR/plans.yaml (a copy) and
DIR/splits_final.json (5 folds, nnU-Net's; an existing file is kept as it is).

Cases already preprocessed with the same plan are skipped; a case that fails is reported and the
others go on (exit status 1 if any failed).
  --plans FILE     plans from 'mnxc plan' (required)
  -o, --output DIR output folder (default: 'preprocessed' beside the plans file)
  --workers N      worker threads (default: the number of CPU cores; 0 = no threads)`;

export const command: Command = {
  name: 'preprocess',
  summary: 'crop, resample and normalise a dataset for training (worker threads)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      plans: { type: 'string' },
      output: { type: 'string', short: 'o' },
      workers: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('expects one DATASET folder');
    if (!values.plans) throw new UsageError('--plans FILE is required (make one with mnxc plan)');
    let workers: number | undefined;
    if (values.workers !== undefined) {
      workers = Number(values.workers);
      if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers expects a whole number ≥ 0, got '${values.workers}'`);
    }
    const plans = loadPlans(values.plans);
    const dataset = loadDataset(positionals[0]!);
    if (dataset.channels.length !== plans.dataset.channels.length)
      throw new UserError(`${values.plans}: plans are for ${plans.dataset.channels.length} channel(s), ${positionals[0]} has ${dataset.channels.length}`);
    const outDir = resolve(values.output ?? join(dirname(resolve(values.plans)), 'preprocessed'));
    ensureWritableDir(outDir);
    const sources = dataset.training.filter((c) => c.label !== null);
    let progress: Progress | undefined;
    const t0 = performance.now();
    const summary = await preprocessDataset({
      sources,
      channelsInOneFile: dataset.channelsInOneFile,
      plans,
      outDir,
      workers,
      onResult: (r, done, total) => {
        progress ??= new Progress('preprocess', total);
        if (!r.ok) progress.log(`case ${r.id} failed: ${r.error}`);
        progress.update(done, r.ok ? `${r.id} ${r.seconds.toFixed(1)} s` : `${r.id} FAILED`);
      },
    });
    savePlans(join(outDir, 'plans.yaml'), relocatePlans(plans, resolve(values.plans), join(outDir, 'plans.yaml')));
    const ids = listPreprocessedCases(outDir).filter((id) => sources.some((s) => s.id === id));
    const splits = ids.length >= plans.splits.n_folds ? ensureSplits(outDir, ids, plans.splits.n_folds, plans.splits.seed) : null;
    const lines = [
      `${summary.done.length} case(s) preprocessed, ${summary.skipped.length} already done, ${summary.failed.length} failed (${((performance.now() - t0) / 1000).toFixed(1)} s) → ${relative(process.cwd(), outDir) || '.'}`,
    ];
    if (summary.done.length > 0) {
      const mean = summary.done.reduce((a, r) => a + r.seconds, 0) / summary.done.length;
      lines.push(`mean ${mean.toFixed(2)} s per case`);
    }
    if (splits) lines.push(`${splits.created ? 'wrote' : 'kept'} ${relative(process.cwd(), splits.path)} (${splits.folds.length} folds)`);
    else lines.push(`no splits written: ${ids.length} case(s) is fewer than ${plans.splits.n_folds} folds`);
    for (const f of summary.failed) lines.push(`failed: ${f.id}: ${f.error}`);
    process.stderr.write(lines.join('\n') + '\n');
    return summary.failed.length > 0 ? 1 : 0;
  },
};
