import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { SetupError } from '../../runtime/setup/setup-error.js';

const HELP = `Usage: mnxc setup tensorflow [--wheel FILE] [--python EXE] [--force]

Makes the fast \`tensorflow\` backend (TensorFlow's C library under TF.js) available on Linux.
It takes the C library from a TensorFlow pip package — the one installed for Python
(\`pip install tensorflow-cpu\`, or \`pip install 'tensorflow[and-cuda]'\` for NVIDIA GPUs) or a
wheel file — installs @tensorflow/tfjs-node (same version as tfjs, install script off) into
.mnxc/tensorflow/ and compiles its addon with node-gyp. Needs Python 3, make and a C++ compiler;
downloads nothing but npm packages. Re-running is quick when nothing changed.
On macOS and Windows mnxc uses the wasm backend instead.

Options:
  --wheel FILE    take the library from this TensorFlow wheel (a .whl file, e.g. from
                  \`pip download --no-deps tensorflow-cpu -d DIR\`) instead of the installed package
  --python EXE    the Python whose tensorflow package to use and node-gyp runs (default: $PYTHON or python3)
  --force         rebuild even when the existing build is current

Then \`mnxc doctor\` shows the backends; \`--backend auto\` (the default) picks tensorflow.`;

function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`;
}

export const command: Command = {
  name: 'setup',
  summary: 'Build the tensorflow backend from a TensorFlow pip package (mnxc setup tensorflow)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      wheel: { type: 'string' },
      python: { type: 'string' },
      force: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1 || positionals[0] !== 'tensorflow') {
      throw new UsageError(positionals.length === 0 ? 'what to set up? (mnxc setup tensorflow)' : `cannot set up '${positionals.join(' ')}' (only: tensorflow)`);
    }
    const { setupTensorflow } = await import('../../runtime/setup/tensorflow.js');
    try {
      const result = await setupTensorflow({
        wheel: values.wheel,
        python: values.python,
        force: values.force,
        log: (line) => process.stdout.write(`  ${line}\n`),
      });
      const s = result.stamp;
      const device = s.gpu ? 'GPU' : 'CPU';
      process.stdout.write(
        `tensorflow backend ${result.upToDate ? 'already built' : 'built'}: TensorFlow ${s.tensorflow} C library on ${device}, ` +
          `tfjs-node ${s.tfjsNode}, from ${s.library.origin}\n` +
          `  ${result.seconds.toFixed(1)} s; ${formatBytes(result.diskBytes)} in .mnxc/tensorflow\n`,
      );
      return 0;
    } catch (e) {
      if (e instanceof SetupError) throw new UserError(e.message);
      throw e;
    }
  },
};
