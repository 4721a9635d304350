import { summarize, renderSummary } from '../../compiler/emit/summary.js';
import { parseCommandArgs, type Command } from '../command.js';
import { SPEC_HELP, compileFromArgs, specOptions } from '../spec-args.js';

export const command: Command = {
  name: 'summary',
  summary: 'parameters, FLOPs and activation memory per stage',
  help: `Usage: mnxc summary SPEC [--set NAME=VALUE]... [--variant V] [--input-size 128,128,128] [--json]

A table per stage and in total: trainable parameters, multiply-accumulates and FLOPs of one
forward pass at the input size (default 128³), and float32 activation memory for one sample.
--json prints {params, macs, flops, activationBytes, stages: [...]}.

${SPEC_HELP}
  --json               machine-readable output`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { ...specOptions, json: { type: 'boolean' } });
    const r = compileFromArgs(positionals[0], values, [128, 128, 128]);
    if (!r.ir) return 1;
    const s = summarize(r.ir);
    process.stdout.write(values.json ? JSON.stringify(s, null, 2) + '\n' : renderSummary(s) + '\n');
    return 0;
  },
};
