import { dirname, join, relative, resolve } from 'node:path';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { ensureWritableDir, writeFileAtomic } from '../../runtime/io/atomic.js';
import { ignoreLabelOf, loadDataset, regionsOf, type Dataset } from '../../runtime/data/dataset/index.js';
import { computeFingerprint, planFromFingerprint, savePlans, type Triple } from '../../runtime/data/plan/index.js';
import { Progress } from '../../runtime/io/progress.js';

const HELP = `Usage: mnxc plan DATASET [-o plans.yaml] [--target-spacing 1,1,1|median] [--patch 128,128,128]
                 [--batch-size N] [--configuration 3d|2d] [--spec FILE.mnx] [--variant V] [--set NAME=VALUE]...

Reads every training case of the nnU-Net dataset folder DATASET once, crops it to its non-zero
region and writes, beside the plans file:
  fingerprint.json  per case: shape, spacing, crop box, shape after cropping, size reduction, labels;
                    per channel: foreground intensity statistics (mean, std, median, min, max,
                    0.5/99.5 percentiles) from every 10th voxel under label > 0 (nnU-Net v1)
  plans.yaml        target spacing, normalisation per channel, model, training, augmentation,
                    inference and split settings, each with its MedNeXt / nnU-Net default
                    (validated by a JSON Schema whenever it is loaded)

Per-axis values are in array order (z, y, x), as nnU-Net's.
  -o, --output FILE        plans file to write (default: plans.yaml)
  --target-spacing S       z,y,x in mm, or 'median' for nnU-Net's rule (default: 1,1,1 as MedNeXt)
  --patch D,H,W            training patch size (default: 128,128,128)
  --batch-size N           (default: nnU-Net v1's rule for the planner's own patch; 2 for most datasets)
  --configuration C        3d (default) or 2d: nnU-Net's 2-D configuration, one-slice patches 1,H,W
                           (default 1,512,512 as MedNeXt's 2-D planner), the 2-D batch size rule,
                           batch Dice, in-plane augmentation and mirroring; train it with a 2-D
                           network (e.g. --set dim=2d) and predict slice by slice
  --spec FILE.mnx          the model architecture to record in the plans
  --variant V              its variant (S, B, M, L, ...)
  --set NAME=VALUE         a model parameter override to record; repeatable`;

function parseTriple(text: string, what: string, integer: boolean): Triple {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 3 || parts.some((n) => !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))))
    throw new UsageError(`${what} expects three positive ${integer ? 'integers' : 'numbers'} like ${integer ? '128,128,128' : '1,1,1'}, got '${text}'`);
  return parts as Triple;
}

function parseSet(entries: string[]): Record<string, number | string | boolean> {
  const out: Record<string, number | string | boolean> = {};
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects NAME=VALUE, got '${e}'`);
    const k = e.slice(0, eq).trim();
    const v = e.slice(eq + 1).trim();
    out[k] = v === 'true' ? true : v === 'false' ? false : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

export function labelNames(dataset: Dataset): Record<string, string> {
  const names: Record<string, string> = {};
  const ignore = ignoreLabelOf(dataset.json);
  for (const [name, value] of Object.entries(dataset.json.labels)) if (typeof value === 'number' && value !== ignore) names[String(value)] = name;
  for (const v of dataset.labelValues) if (v !== ignore) names[String(v)] ??= `label_${v}`;
  return names;
}

export const command: Command = {
  name: 'plan',
  summary: 'fingerprint a dataset and write its plans (YAML)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      output: { type: 'string', short: 'o' },
      'target-spacing': { type: 'string' },
      patch: { type: 'string' },
      'batch-size': { type: 'string' },
      configuration: { type: 'string' },
      spec: { type: 'string' },
      variant: { type: 'string' },
      set: { type: 'string', multiple: true },
    });
    if (positionals.length !== 1) throw new UsageError('expects one DATASET folder');
    const ts = values['target-spacing'];
    const targetSpacing = ts === undefined ? undefined : ts === 'median' ? ('median' as const) : parseTriple(ts, '--target-spacing', false);
    const patch = values.patch === undefined ? undefined : parseTriple(values.patch, '--patch', true);
    let batchSize: number | undefined;
    if (values['batch-size'] !== undefined) {
      batchSize = Number(values['batch-size']);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size expects a positive integer, got '${values['batch-size']}'`);
    }
    if (values.configuration !== undefined && !['3d', '2d'].includes(values.configuration))
      throw new UsageError(`--configuration expects 3d or 2d, got '${values.configuration}'`);
    const out = resolve(values.output ?? 'plans.yaml');
    ensureWritableDir(dirname(out), 'folder of the plans file');
    const dataset = loadDataset(positionals[0]!);
    const sources = dataset.training.filter((c) => c.label !== null);
    const progress = new Progress('fingerprint', sources.length);
    const t0 = performance.now();
    const fp = computeFingerprint(
      { name: dataset.json.name ?? positionals[0]!, channels: dataset.channels, labels: labelNames(dataset), cases: sources, channelsInOneFile: dataset.channelsInOneFile },
      (done, _total, id) => progress.update(done, id),
    );
    const fpPath = join(dirname(out), 'fingerprint.json');
    writeFileAtomic(fpPath, JSON.stringify(fp, null, 1) + '\n');
    const spec = values.spec ? relative(dirname(out), resolve(values.spec)) : '';
    const plans = planFromFingerprint(fp, {
      targetSpacing,
      patch,
      batchSize,
      ignoreLabel: ignoreLabelOf(dataset.json),
      regions: regionsOf(dataset.json),
      configuration: values.configuration as '3d' | '2d' | undefined,
      model: { spec, ...(values.variant ? { variant: values.variant } : {}), set: parseSet(values.set ?? []) },
    });
    plans.fingerprint = relative(dirname(out), fpPath);
    savePlans(out, plans);
    const p = plans.preprocessing;
    process.stderr.write(
      [
        `${sources.length} case(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        `target spacing ${p.target_spacing.join(' × ')} mm (${p.target_spacing_rule}), median shape there ${p.median_shape.join(' × ')}`,
        `normalisation: ${p.normalization.map((n) => `${n.name} → ${n.scheme}${n.use_nonzero_mask ? ' (non-zero mask)' : ''}`).join(', ')}`,
        `batch dice: ${plans.training.loss.batch_dice}`,
        `wrote ${relative(process.cwd(), fpPath) || fpPath} and ${relative(process.cwd(), out) || out}`,
      ].join('\n') + '\n',
    );
    return 0;
  },
};
