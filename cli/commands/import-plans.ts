import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importPlans } from '../../compiler/import-plans.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';

const FAMILY = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'nnunet.mnx');

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: ${(e as NodeJS.ErrnoException).code ?? 'not valid JSON'}`);
  }
}

export const command: Command = {
  name: 'import-plans',
  summary: 'turn an nnU-Net v2 plans file into an .mnx spec',
  help: `Usage: mnxc import-plans nnUNetPlans.json [--configuration 3d_fullres] [--dataset-json dataset.json]
                         [--input-channels N] [--num-classes N] -o FILE.mnx

Writes a spec deriving from examples/nnunet.mnx's PlainConvUNet, or for a ResEnc plans file
(nnUNetResEncUNet{M,L,XL}Plans.json) examples/resenc.mnx's ResidualEncoderUNet, with the
configuration's architecture (features, kernel sizes, strides, convolutions or residual blocks
per stage). input_channels and
num_classes come from dataset.json (channel_names, labels) or the flags. Unknown network
classes, operators or arguments are reported, not guessed.`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      configuration: { type: 'string', default: '3d_fullres' },
      'dataset-json': { type: 'string' },
      'input-channels': { type: 'string' },
      'num-classes': { type: 'string' },
      output: { type: 'string', short: 'o' },
    });
    const file = positionals[0];
    if (!file) throw new UsageError('missing the plans file');
    if (!values.output) throw new UsageError('missing -o FILE.mnx');
    let channels = values['input-channels'] ? Number(values['input-channels']) : NaN;
    let classes = values['num-classes'] ? Number(values['num-classes']) : NaN;
    const dj = values['dataset-json'] ?? join(dirname(file), 'dataset.json');
    if (Number.isNaN(channels) || Number.isNaN(classes)) {
      let ds: Record<string, unknown> | null = null;
      try {
        ds = readJson(dj);
      } catch {
        if (values['dataset-json']) throw new UserError(`${dj}: cannot read`);
      }
      if (ds) {
        const ch = (ds.channel_names ?? ds.modality) as Record<string, unknown> | undefined;
        if (Number.isNaN(channels) && ch) channels = Object.keys(ch).length;
        const labels = ds.labels as Record<string, unknown> | undefined;
        if (Number.isNaN(classes) && labels) classes = Object.keys(labels).length;
      }
    }
    if (!Number.isInteger(channels) || channels < 1 || !Number.isInteger(classes) || classes < 2) {
      throw new UsageError('give --input-channels and --num-classes, or a dataset.json (--dataset-json) with channel_names and labels');
    }
    const text = importPlans(readJson(file), { configuration: values.configuration, inputChannels: channels, numClasses: classes, outputPath: values.output, familyPath: FAMILY, source: file });
    writeFileAtomic(values.output, text);
    process.stderr.write(`wrote ${values.output}\n`);
    return 0;
  },
};
