import { parseCommandArgs, type Command } from '../command.js';
import { SPEC_HELP, compileFromArgs, specOptions } from '../spec-args.js';

export const command: Command = {
  name: 'check',
  summary: 'check a spec and print its diagnostics',
  help: `Usage: mnxc check SPEC [--set NAME=VALUE]... [--variant V] [--input-size D,H,W]

Parses, resolves, expands and shape-checks SPEC; prints every diagnostic with its code,
file:line:col and the source line. Exit code 0 when there are no errors, 1 when there are.

${SPEC_HELP}`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, specOptions);
    const r = compileFromArgs(positionals[0], values);
    if (!r.ir) return 1;
    process.stderr.write(`${positionals[0]}: ok (${r.ir.name}${r.ir.variant ? ` variant ${r.ir.variant}` : ''}, ${r.ir.nodes.length} operations)\n`);
    return 0;
  },
};
