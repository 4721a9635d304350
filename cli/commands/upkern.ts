import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { networkFromArgs } from '../spec-args.js';
import { computeWeightMap, formatWeightMap } from '../../compiler/passes/upkern.js';
import type { IRModel } from '../../ir/types.js';
import { readSafetensors, writeSafetensors } from '../../runtime/io/safetensors.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { applyWeightMap } from '../../runtime/weights/upkern-apply.js';

const help = `mnxc upkern --from SPEC --to SPEC --weights IN.safetensors --out OUT.safetensors [options]

UpKern (MedNeXt, Roy et al. 2023): initialises a network from trained weights of one that
differs only in kernel sizes. Parameters are matched by name: equal shapes are copied
bit-exact, kernels of another size are resized as PyTorch's
F.interpolate(w, size, mode='trilinear', align_corners=False) does (bilinear/linear in 2-D/1-D),
parameters only the target has are initialised as a new model would be, and parameters only
the source has are dropped. Prints the map as a table.

Options:
  --from SPEC           the trained network's spec (.mnx, or a compiled model: 'mnxc compile -o DIR'
                        folder or its model.ir.json)
  --to SPEC             the new network's spec (.mnx or compiled; may be the same file with other settings)
  --set NAME=VALUE      override a parameter of both networks (repeatable)
  --from-set NAME=VALUE override a parameter of the source network only (repeatable)
  --to-set NAME=VALUE   override a parameter of the target network only (repeatable)
  --variant V           variant of both specs; --from-variant / --to-variant for one side
  --weights FILE        the source network's weights (safetensors, float32, PyTorch names)
  --out FILE            the target network's weights (written atomically)
  --report FILE         also write the map and its settings as JSON
  --allow-shrink        allow resampling kernels down (large → small), with a warning
  --seed N              seed for freshly initialised parameters (default 0)

Example (the paper's k3 → k5):
  mnxc upkern --from examples/tiny.mnx --to examples/tiny.mnx --to-set kernel_size=5 \\
    --weights k3.safetensors --out k5.safetensors
`;

function compileSide(side: 'source' | 'target', spec: string | undefined, set: string[], variant: string | undefined): IRModel {
  if (!spec) throw new UsageError(`--${side === 'source' ? 'from' : 'to'} SPEC is required`);
  const r = networkFromArgs(spec, { set, variant });
  if (!r) throw new UserError(`${spec}: the ${side} network does not compile (see the messages above)`);
  return r.ir;
}

export const command: Command = {
  name: 'upkern',
  summary: 'Initialise a larger-kernel network from trained smaller-kernel weights (UpKern)',
  help,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        from: { type: 'string' },
        to: { type: 'string' },
        set: { type: 'string', multiple: true },
        'from-set': { type: 'string', multiple: true },
        'to-set': { type: 'string', multiple: true },
        variant: { type: 'string' },
        'from-variant': { type: 'string' },
        'to-variant': { type: 'string' },
        weights: { type: 'string' },
        out: { type: 'string' },
        report: { type: 'string' },
        'allow-shrink': { type: 'boolean' },
        seed: { type: 'string' },
      },
      false,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    if (!values.weights) throw new UsageError('--weights IN.safetensors is required');
    if (!values.out) throw new UsageError('--out OUT.safetensors is required');
    const seed = values.seed === undefined ? 0 : Number(values.seed);
    if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed expects an integer, got '${values.seed}'`);

    const common = values.set ?? [];
    const fromSet = [...common, ...(values['from-set'] ?? [])];
    const toSet = [...common, ...(values['to-set'] ?? [])];
    const fromVariant = values['from-variant'] ?? values.variant;
    const toVariant = values['to-variant'] ?? values.variant;
    const source = compileSide('source', values.from, fromSet, fromVariant);
    const target = compileSide('target', values.to, toSet, toVariant);

    const map = computeWeightMap(source, target, { allowShrink: values['allow-shrink'] === true });
    process.stdout.write(formatWeightMap(map) + '\n');
    for (const w of map.warnings) process.stderr.write(`warning: ${w}\n`);
    if (values.report) {
      const report = {
        from: { spec: values.from, variant: fromVariant ?? null, set: fromSet },
        to: { spec: values.to, variant: toVariant ?? null, set: toSet },
        weights: values.weights,
        out: values.out,
        seed,
        allowShrink: values['allow-shrink'] === true,
        ...map,
      };
      writeFileAtomic(values.report, JSON.stringify(report, null, 2) + '\n');
    }
    if (map.errors.length > 0) {
      throw new UserError(`the networks do not match (${map.errors.length} error(s)):\n  ${map.errors.join('\n  ')}`);
    }

    const weights = readSafetensors(values.weights);
    const result = applyWeightMap(map, weights, target.parameters, { seed, what: values.weights });
    for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
    writeSafetensors(values.out, result.tensors);
    process.stdout.write(`wrote ${result.tensors.size} tensors → ${values.out}\n`);
    return 0;
  },
};
