import { summarize, renderSummary } from '../../compiler/emit/summary.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UserError } from '../errors.js';
import { NETWORK_HELP, SPEC_HELP, networkFromArgs, parseSize, specOptions } from '../spec-args.js';

export const command: Command = {
  name: 'summary',
  summary: 'parameters, FLOPs and activation memory per stage',
  help: `Usage: mnxc summary SPEC [--set NAME=VALUE]... [--variant V] [--input-size 128,128,128] [--json]

A table per stage and in total: trainable parameters, multiply-accumulates and FLOPs of one
forward pass at the input size (default 128³), and float32 activation memory for one sample.
--json prints {params, macs, flops, activationBytes, stages: [...]}.
${NETWORK_HELP} A compiled model is summarised at the input size it was compiled for.

${SPEC_HELP}
  --json               machine-readable output`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { ...specOptions, json: { type: 'boolean' } });
    const r = networkFromArgs(positionals[0], values, [128, 128, 128]);
    if (!r) return 1;
    const asked = parseSize(values['input-size']);
    const compiled = r.ir.input.spatial;
    if (r.source.given === 'ir' && asked && compiled && asked.join(',') !== compiled.join(','))
      throw new UserError(`${r.source.path}: compiled for input ${compiled.join('×')}, not ${asked.join('×')}; compile the spec again with --input-size ${asked.join(',')}`);
    const s = summarize(r.ir);
    process.stdout.write(values.json ? JSON.stringify(s, null, 2) + '\n' : renderSummary(s) + '\n');
    return 0;
  },
};
