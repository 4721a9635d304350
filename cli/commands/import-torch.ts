import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { readTorchWeights } from '../../runtime/torch/state-dict.js';
import { foldNnunetAliases } from '../../runtime/torch/aliases.js';
import { writeSafetensors } from '../../runtime/io/safetensors.js';

const help = `mnxc import-torch FILE --out W.safetensors [--key NAME]

Reads a PyTorch checkpoint (torch.save's zip format or the legacy format) without executing
anything, and writes its weights as safetensors.

Only plain data, OrderedDicts, tensors, storages, torch.Size and NumPy scalars/dtypes are
rebuilt; any other global (e.g. os.system, builtins.eval) is refused by name.

Options:
  --out FILE    output safetensors file (written atomically)
  --key NAME    the entry of the checkpoint dict holding the weights. Default: 'state_dict',
                else 'network_weights' (nnU-Net v2), else the top level if it holds only tensors.
                The error lists the available keys when none fits.

Names lose 'module.' (DistributedDataParallel) and '_orig_mod.' (torch.compile) prefixes.
Floating tensors are written as float32 (float64 is rounded, float16/bfloat16 convert exactly);
integer and bool tensors keep their type (I64, I32, I16, I8, U8, BOOL).
`;

export const command: Command = {
  name: 'import-torch',
  summary: 'Convert a PyTorch checkpoint (.pth, .model) to safetensors without executing it',
  help,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      out: { type: 'string' },
      key: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('expected exactly one checkpoint file');
    if (!values.out) throw new UsageError('--out is required');
    const file = positionals[0]!;
    const imported = readTorchWeights(file, values.key);
    let folded = 0;
    ({ tensors: imported.tensors, folded } = foldNnunetAliases(imported.tensors, file));
    try {
      writeSafetensors(values.out, imported.tensors);
    } catch (e) {
      throw new UserError(`${values.out}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const from = imported.key === null ? 'the top-level state_dict' : `'${imported.key}'`;
    const lines = [`read ${imported.tensors.size} tensors from ${from} (${imported.format} format) → ${values.out}`];
    if (folded > 0) lines.push(`folded ${folded} nnU-Net alias names (.all_modules.N, decoder.encoder.) onto their canonical names, after checking they agree`);
    if (imported.stripped > 0) lines.push(`stripped a module./_orig_mod. prefix from ${imported.stripped} names`);
    for (const [dtype, n] of Object.entries(imported.converted)) {
      const to = /^(float|bfloat)/.test(dtype) ? 'float32' : 'its own type';
      lines.push(`${n} ${dtype} tensor(s) written as ${to}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
