import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { UsageError } from '../errors.js';

const HELP = `Usage: mnxc setup tensorflow [--wheel FILE] [--python EXE] [--force]
       mnxc setup native [--python EXE] [--force]

\`setup native\` compiles mnxc's own C++ kernels (native/) with npm's node-gyp for this CPU
into .mnxc/native/: the \`native\` backend, TF.js's cpu backend with its hot kernels (matrix
products, element-wise ops, depthwise convolutions and their gradients) in multi-threaded
SIMD code. Needs a C++ compiler, make and Python 3 (for node-gyp); takes ~15 s. \`npm ci\`
tries it automatically and goes on without it.

\`setup tensorflow\` makes the fast \`tensorflow\` backend (TensorFlow's C library under TF.js) available on Linux.
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

Then \`mnxc doctor\` shows the backends; \`--backend auto\` (the default) picks tensorflow, then native.`;

function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`;
}

export const command: Command = {
  name: 'setup',
  summary: 'Build a fast backend: tensorflow (from a TensorFlow pip package) or native (our C++ kernels)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      wheel: { type: 'string' },
      python: { type: 'string' },
      force: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1 || (positionals[0] !== 'tensorflow' && positionals[0] !== 'native')) {
      throw new UsageError(
        positionals.length === 0 ? 'what to set up? (mnxc setup tensorflow | mnxc setup native)' : `cannot set up '${positionals.join(' ')}' (only: tensorflow, native)`,
      );
    }
    if (positionals[0] === 'native') {
      if (values.wheel) throw new UsageError('--wheel is for `mnxc setup tensorflow`');
      return setupNativeCommand(values.python, values.force);
    }
    const { setupTensorflow } = await import('../../runtime/setup/tensorflow.js');
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
  },
};

async function setupNativeCommand(python: string | undefined, force: boolean): Promise<number> {
  const { setupNative } = await import('../../runtime/setup/native.js');
  const r = await setupNative({ python, force, log: (line) => process.stdout.write(`  ${line}\n`) });
  process.stdout.write(
    `native backend ${r.upToDate ? 'already built' : 'built'}: C++ kernels (${r.info.simd}, ${r.info.threads} threads) in .mnxc/native, ${r.seconds.toFixed(1)} s\n`,
  );
  return 0;
}
