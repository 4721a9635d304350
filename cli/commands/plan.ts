import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importPlans } from '../../compiler/import-plans.js';
import { nnunetDeepSupervisionWeights, planResEnc, RESENC_PRESETS, type ResEncPreset } from '../../runtime/data/plan/resenc-planner.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { ensureWritableDir, writeFileAtomic } from '../../runtime/io/atomic.js';
import { ignoreLabelOf, loadDataset, regionsOf, type Dataset } from '../../runtime/data/dataset/index.js';
import { computeFingerprint, planFromFingerprint, savePlans, type Triple } from '../../runtime/data/plan/index.js';
import { Progress } from '../../runtime/io/progress.js';

const HELP = `Usage: mnxc plan DATASET [-o plans.yaml] [--target-spacing 1,1,1|median] [--patch 128,128,128]
                 [--batch-size N] [--configuration 3d|2d] [--spec FILE.mnx] [--variant V] [--set NAME=VALUE]...
       mnxc plan DATASET --preset resenc-m|resenc-l|resenc-xl [-o plans.yaml] [--target-spacing S]

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
  --set NAME=VALUE         a model parameter override to record; repeatable
  --preset resenc-m|-l|-xl nnU-Net's ResEnc M / L / XL planner (8 / 24 / 40 GB GPU memory target):
                           plans the 3d_fullres ResidualEncoderUNet, its patch and its batch size
                           as nnUNetPlannerResEnc{M,L,XL} do (target spacing: nnU-Net's median
                           rule unless given), writes the network as resenc_<preset>.mnx beside
                           the plans (deriving from examples/resenc.mnx), trained with deep
                           supervision over all its heads with nnU-Net's weights (1/2^i, the coarsest 0)`;

const RESENC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'resenc.mnx');
const PRESETS: Record<string, ResEncPreset> = { 'resenc-m': 'M', 'resenc-l': 'L', 'resenc-xl': 'XL' };

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
      preset: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('expects one DATASET folder');
    const preset = values.preset === undefined ? undefined : PRESETS[values.preset];
    if (values.preset !== undefined && !preset) throw new UsageError(`--preset expects one of ${Object.keys(PRESETS).join(', ')}, got '${values.preset}'`);
    if (preset) {
      const clash = (['spec', 'variant', 'set', 'patch', 'batch-size'] as const).filter((k) => values[k] !== undefined);
      if (clash.length) throw new UsageError(`--preset plans the network, patch and batch itself; leave out ${clash.map((k) => `--${k}`).join(', ')}`);
    }
    const ts = values['target-spacing'];
    const targetSpacing = ts === undefined ? (preset ? ('median' as const) : undefined) : ts === 'median' ? ('median' as const) : parseTriple(ts, '--target-spacing', false);
    let patch = values.patch === undefined ? undefined : parseTriple(values.patch, '--patch', true);
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
      { name: dataset.json.name ?? positionals[0]!, channels: dataset.channels, labels: labelNames(dataset), ignoreLabel: ignoreLabelOf(dataset.json), cases: sources, channelsInOneFile: dataset.channelsInOneFile },
      (done, _total, id) => progress.update(done, id),
    );
    const fpPath = join(dirname(out), 'fingerprint.json');
    writeFileAtomic(fpPath, JSON.stringify(fp, null, 1) + '\n');
    let spec = values.spec ? relative(dirname(out), resolve(values.spec)) : '';
    let set = parseSet(values.set ?? []);
    let presetNote = '';
    let dsWeights: number[] | undefined;
    if (preset) {
      // The ResEnc planner works on the target spacing and the median shape there.
      const base = planFromFingerprint(fp, { targetSpacing });
      const pre = base.preprocessing;
      const numClasses = Object.keys(base.dataset.labels).length;
      const r = planResEnc(preset, { spacing: pre.target_spacing, medianShape: pre.median_shape, numClasses, datasetVoxels: pre.median_shape.reduce((a, b) => a * b, 1) * base.dataset.num_training });
      patch = r.patch_size as Triple;
      batchSize = r.batch_size;
      const specFile = join(dirname(out), `resenc_${preset.toLowerCase()}.mnx`);
      const nnunetPlans = {
        dataset_name: fp.dataset,
        plans_name: `nnUNetResEncUNet${preset}Plans`,
        configurations: {
          '3d_fullres': {
            patch_size: r.patch_size,
            batch_size: r.batch_size,
            architecture: {
              network_class_name: 'dynamic_network_architectures.architectures.unet.ResidualEncoderUNet',
              arch_kwargs: { ...r.architecture, conv_op: 'torch.nn.modules.conv.Conv3d', conv_bias: true, norm_op: 'torch.nn.modules.instancenorm.InstanceNorm3d', norm_op_kwargs: { eps: 1e-5, affine: true }, dropout_op: null, dropout_op_kwargs: null, nonlin: 'torch.nn.LeakyReLU', nonlin_kwargs: { inplace: true } },
            },
          },
        },
      };
      const text = importPlans(nnunetPlans, { inputChannels: fp.channels.length, numClasses, outputPath: specFile, familyPath: join(dirname(RESENC), 'nnunet.mnx'), resencPath: RESENC, source: `mnxc plan --preset ${values.preset}` });
      writeFileAtomic(specFile, text);
      spec = relative(dirname(out), specFile);
      set = { deep_supervision: true };
      dsWeights = nnunetDeepSupervisionWeights(r.architecture.n_stages - 1);
      const t = RESENC_PRESETS[preset];
      presetNote = `ResEnc ${preset} (${t.gpu_memory_target_gb} GB target): ${r.architecture.n_stages} stages, patch ${r.patch_size.join(' × ')}, batch ${r.batch_size}; wrote ${relative(process.cwd(), specFile) || specFile}`;
    }
    const plans = planFromFingerprint(fp, {
      targetSpacing,
      patch,
      batchSize,
      ignoreLabel: ignoreLabelOf(dataset.json),
      regions: regionsOf(dataset.json),
      configuration: values.configuration as '3d' | '2d' | undefined,
      model: { spec, ...(values.variant ? { variant: values.variant } : {}), set },
    });
    if (dsWeights) plans.training.deep_supervision.weights = dsWeights;
    plans.fingerprint = relative(dirname(out), fpPath);
    savePlans(out, plans);
    const p = plans.preprocessing;
    process.stderr.write(
      [
        `${sources.length} case(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        `target spacing ${p.target_spacing.join(' × ')} mm (${p.target_spacing_rule}), median shape there ${p.median_shape.join(' × ')}`,
        `normalisation: ${p.normalization.map((n) => `${n.name} → ${n.scheme}${n.use_nonzero_mask ? ' (non-zero mask)' : ''}`).join(', ')}`,
        `batch dice: ${plans.training.loss.batch_dice}`,
        ...(presetNote ? [presetNote] : []),
        `wrote ${relative(process.cwd(), fpPath) || fpPath} and ${relative(process.cwd(), out) || out}`,
      ].join('\n') + '\n',
    );
    return 0;
  },
};
