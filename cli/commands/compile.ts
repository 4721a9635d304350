import { join } from 'node:path';
import { renderSummary, summarize } from '../../compiler/emit/summary.js';
import { generateTypeScript } from '../../compiler/emit/typescript.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { SPEC_HELP, compileFromArgs, specOptions } from '../spec-args.js';

export const command: Command = {
  name: 'compile',
  summary: 'compile a spec to IR, generated TypeScript and a summary',
  help: `Usage: mnxc compile SPEC [--set NAME=VALUE]... [--variant V] [--input-size D,H,W] -o DIR

Writes DIR/model.ir.json (the IR: operations, shapes, parameters in PyTorch naming, source
spans), DIR/model.gen.ts (a TypeScript module that builds the same network from the runtime's
operations, imported from mnxc/runtime) and DIR/summary.txt (parameters, FLOPs, activation
memory at the input size, default 128³). Commands that run a network take DIR (or
DIR/model.ir.json) in place of SPEC: mnxc compile SPEC -o DIR && mnxc train ... --spec DIR.

${SPEC_HELP}
  -o, --output DIR     output folder (created if needed)`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { ...specOptions, output: { type: 'string', short: 'o' } });
    if (!values.output) throw new UsageError('missing -o DIR');
    const r = compileFromArgs(positionals[0], values, [128, 128, 128]);
    if (!r.ir) return 1;
    const dir = values.output;
    writeFileAtomic(join(dir, 'model.ir.json'), JSON.stringify(r.ir, null, 1) + '\n');
    writeFileAtomic(join(dir, 'model.gen.ts'), generateTypeScript(r.ir));
    writeFileAtomic(join(dir, 'summary.txt'), renderSummary(summarize(r.ir)) + '\n');
    process.stderr.write(`wrote ${join(dir, 'model.ir.json')}, ${join(dir, 'model.gen.ts')}, ${join(dir, 'summary.txt')}\n`);
    return 0;
  },
};
