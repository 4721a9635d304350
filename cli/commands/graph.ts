import { extname } from 'node:path';
import { renderDot, renderHtml, renderSvg } from '../../compiler/emit/graph.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { SPEC_HELP, compileFromArgs, specOptions } from '../spec-args.js';

export const command: Command = {
  name: 'graph',
  summary: 'draw the network (dot, svg or html)',
  help: `Usage: mnxc graph SPEC [--set NAME=VALUE]... [--variant V] [--input-size D,H,W] -o FILE.(dot|svg|html)

Draws the network: one box per module with its operations and output shape, by resolution
level, skips as dashed curves. .dot is Graphviz input; .svg and .html need nothing else.

${SPEC_HELP}
  -o, --output FILE    output file; the extension picks the format`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { ...specOptions, output: { type: 'string', short: 'o' } });
    if (!values.output) throw new UsageError('missing -o FILE.(dot|svg|html)');
    const ext = extname(values.output).toLowerCase();
    const render = ext === '.dot' ? renderDot : ext === '.svg' ? renderSvg : ext === '.html' ? renderHtml : null;
    if (!render) throw new UsageError(`-o must end in .dot, .svg or .html, got '${values.output}'`);
    const r = compileFromArgs(positionals[0], values, [128, 128, 128]);
    if (!r.ir) return 1;
    writeFileAtomic(values.output, render(r.ir));
    process.stderr.write(`wrote ${values.output}\n`);
    return 0;
  },
};
