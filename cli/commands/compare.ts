import { compileFile } from '../../compiler/compile.js';
import { renderDiagnostics } from '../../compiler/diagnostics/render.js';
import { summarize, type ModelSummary } from '../../compiler/emit/summary.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { parseSize } from '../spec-args.js';

/** Model parameters that name the input size: `--input-size` sets them too (a list, or its first entry where the default is an int). */
const SIZE_PARAMS = ['img_size', 'crop_size', 'img_dim'];

export const command: Command = {
  name: 'compare',
  summary: 'parameters, FLOPs and activation memory of several networks side by side',
  help: `Usage: mnxc compare SPEC[@VARIANT]... [--input-size 128,128,128] [--json]

One table, a row per network, as the MedNeXt paper compares its baselines: trainable
parameters, GFLOPs and GMACs of one forward pass at the input size, and float32 activation
memory for one sample. SPEC@VARIANT applies a variant (examples/mednext.mnx@S). The input size
also sets a model parameter that names it (img_size, crop_size, img_dim: UNETR, nnFormer,
TransBTS); a 2-D network gets the last two axes.

  --input-size D,H,W   input size (default 128,128,128)
  --json               machine-readable output: one summary per network`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { 'input-size': { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length === 0) throw new UsageError('missing SPEC (one or more .mnx files)');
    const size = parseSize(values['input-size']) ?? [128, 128, 128];
    const rows: { spec: string; summary: ModelSummary }[] = [];
    let failed = false;
    for (const item of positionals) {
      const at = item.lastIndexOf('@');
      const spec = at > 0 ? item.slice(0, at) : item;
      const variant = at > 0 ? item.slice(at + 1) : undefined;
      // First the spec's own parameters (and its dimension), then the run at the size asked for.
      const probe = compileFile(spec, { variant });
      if (!probe.ir) {
        process.stderr.write(renderDiagnostics(probe.diagnostics, probe.sources));
        failed = true;
        continue;
      }
      const inputSize = probe.ir.spatialDims === 2 ? size.slice(-2) : size;
      const set: string[] = [];
      for (const name of SIZE_PARAMS) {
        if (!(name in probe.ir.arguments)) continue;
        const current = probe.ir.arguments[name];
        set.push(`${name}=${Array.isArray(current) ? JSON.stringify(inputSize) : inputSize[0]}`);
      }
      const r = compileFile(spec, { variant, set, inputSize });
      if (!r.ir) {
        process.stderr.write(renderDiagnostics(r.diagnostics, r.sources));
        failed = true;
        continue;
      }
      rows.push({ spec: item, summary: summarize(r.ir) });
    }
    if (failed) throw new UserError('some networks did not compile at this input size (see above)');
    if (values.json) {
      process.stdout.write(JSON.stringify(rows.map((r) => ({ spec: r.spec, ...r.summary })), null, 2) + '\n');
      return 0;
    }
    const head = ['network', 'spec', 'input', 'params (M)', 'GMACs', 'GFLOPs', 'activations GiB'];
    const body = rows.map(({ spec, summary: s }) => [
      `${s.model}${s.variant ? ` ${s.variant}` : ''}`,
      spec,
      `${s.inputChannels}×${s.inputSize.join('×')}`,
      (s.params / 1e6).toFixed(2),
      (s.macs / 1e9).toFixed(1),
      (s.flops / 1e9).toFixed(1),
      (s.activationBytes / 2 ** 30).toFixed(2),
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
    process.stdout.write(
      [
        line(head),
        line(w.map((n) => '-'.repeat(n))),
        ...body.map(line),
        '',
        'params: trainable parameters (buffers and MedNeXt\'s dummy_tensor not counted); GMACs: multiply-accumulates of',
        'convolutions and matrix products; GFLOPs: 2·MACs + one per output element of every other op; activations: float32',
        'outputs of every op for one sample (views not counted).',
      ].join('\n') + '\n',
    );
    return 0;
  },
};
