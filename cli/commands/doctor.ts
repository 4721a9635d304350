import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { UsageError } from '../errors.js';
import type { DoctorReport } from '../../runtime/setup/doctor.js';

const HELP = `Usage: mnxc doctor [--json]

Shows which TF.js backends work on this machine and why the others do not, which one
\`--backend auto\` picks, the library versions (tfjs, the TensorFlow C library when the
tensorflow backend loads), thread settings and the GPUs found.

Options:
  --json    print the report as JSON: {"backends": [{"name", "available", "detail"}, ...], "auto", ...}

The tensorflow backend comes from \`mnxc setup tensorflow\` (Linux), the native backend
(our C++ kernels under the cpu backend) from \`mnxc setup native\` or \`npm ci\`.`;

function formatText(r: DoctorReport): string {
  const width = Math.max(...r.backends.map((b) => b.name.length));
  const threads = r.threads;
  const tfThreads = (name: 'TF_NUM_INTRAOP_THREADS' | 'TF_NUM_INTEROP_THREADS') => `${name}=${threads[name] ?? 'unset'}`;
  const lines = [
    `platform   ${r.platform}, Node ${r.versions.node}`,
    'backends',
    ...r.backends.map((b) => `  ${b.name.padEnd(width)}  ${b.available ? 'yes' : 'no '}  ${b.detail}`),
    `auto       ${r.auto ?? 'none'}`,
    `versions   tfjs ${r.versions['@tensorflow/tfjs'] ?? '-'}, tfjs-core ${r.versions['@tensorflow/tfjs-core'] ?? '-'}, ` +
      `tfjs-backend-wasm ${r.versions['@tensorflow/tfjs-backend-wasm'] ?? '-'}, tfjs-node ${r.versions['@tensorflow/tfjs-node'] ?? '-'}, ` +
      `TensorFlow C ${r.versions.tensorflow ?? '-'}`,
    `threads    ${threads.availableParallelism} available (${threads.cpus} CPUs); ${tfThreads('TF_NUM_INTRAOP_THREADS')}, ` +
      `${tfThreads('TF_NUM_INTEROP_THREADS')} (unset: TensorFlow uses every core)`,
    `gpu        ${r.gpu.devices.length ? r.gpu.devices.join('; ') : 'no NVIDIA GPU found'}` +
      (r.gpu.tensorflowUsesGpu === null ? '' : `; tensorflow runs on ${r.gpu.tensorflowUsesGpu ? 'the GPU' : 'the CPU'}`),
  ];
  const s = r.tensorflowSetup;
  lines.push(s ? `setup      tensorflow built ${s.builtAt} from ${s.library.origin}` : 'setup      tensorflow not built (mnxc setup tensorflow)');
  const n = r.nativeSetup;
  lines.push(n ? `           native built ${n.builtAt} for ${n.cpu}` : '           native not built (mnxc setup native)');
  return lines.join('\n');
}

export const command: Command = {
  name: 'doctor',
  summary: 'Show which backends work here and why the others do not',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean', default: false } });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const { doctorReport } = await import('../../runtime/setup/doctor.js');
    const report = await doctorReport();
    process.stdout.write((values.json ? JSON.stringify(report, null, 2) : formatText(report)) + '\n');
    return 0;
  },
};
