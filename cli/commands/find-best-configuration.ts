import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { findBestConfiguration } from '../../app/find-best.js';

const HELP = `Usage: mnxc find-best-configuration RUN_DIR... -o OUT_DIR

Compares trained runs (e.g. a 2-D and a 3-D configuration, or two networks) on their
cross-validation results, as nnU-Net's find_best_configuration: each run's validated folds
(fold_K/validation_raw, written at the end of mnxc train) pooled against its gt_segmentations,
and every pair of runs ensembled on the validation probabilities of the cases both validated
(OUT_DIR/ensembles/). The highest mean foreground Dice wins. Writes
OUT_DIR/inference_instructions.json (every score, the winner) and inference_instructions.txt
(the mnxc predict / mnxc ensemble commands to run).

Options:
  -o, --output DIR   where to write the instructions and the ensembles`;

export const command: Command = {
  name: 'find-best-configuration',
  summary: 'choose among runs and their ensembles by cross-validation Dice (nnU-Net)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { output: { type: 'string', short: 'o' } });
    if (positionals.length < 1) throw new UsageError('expects at least one RUN_DIR');
    if (!values.output) throw new UsageError('missing -o OUT_DIR');
    findBestConfiguration(positionals, values.output);
    process.stdout.write(readFileSync(join(values.output, 'inference_instructions.txt'), 'utf8'));
    return 0;
  },
};
