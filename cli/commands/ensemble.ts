import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { ensembleFolders } from '../../runtime/infer/ensemble.js';

const HELP = `Usage: mnxc ensemble FOLDER FOLDER... -o OUT_DIR

Averages the saved probabilities of several predictions (nnU-Net's ensemble): every case with a
{case}.probabilities.safetensors.gz in each FOLDER (mnxc predict --save-probabilities, or a run's
fold_K/validation_raw) gets the mean of its probabilities, then labels (argmax; 0.5 thresholds and
regions_class_order for region-based runs), written as OUT_DIR/{case}.nii.gz on the grid of the
first folder's {case}.nii.gz. OUT_DIR/ensemble.json lists the folders and cases.

Options:
  -o, --output DIR   where to write the ensembled label maps
  -q, --quiet        no progress lines`;

export const command: Command = {
  name: 'ensemble',
  summary: 'average the saved probabilities of several predictions (nnU-Net ensemble)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { output: { type: 'string', short: 'o' }, quiet: { type: 'boolean', short: 'q' } });
    if (positionals.length < 2) throw new UsageError('expects at least two prediction folders');
    if (!values.output) throw new UsageError('missing -o OUT_DIR');
    const ids = ensembleFolders(positionals, values.output, (done, total, id) => {
      if (!values.quiet) process.stderr.write(`[${done}/${total}] ${id}\n`);
    });
    process.stdout.write(`ensembled ${ids.length} case(s) of ${positionals.length} folders → ${values.output}\n`);
    return 0;
  },
};
