import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { createRequire } from 'node:module';
import { probeBackends, type BackendName, type BackendProbe } from '../backend.js';
import { readNativeStamp, type NativeStamp } from '../backends/native.js';
import { readSetupStamp, tensorflowBinding, type SetupStamp } from '../backends/tensorflow.js';

/** Everything `mnxc doctor` reports; also its `--json` form. */
export interface DoctorReport {
  platform: string;
  backends: BackendProbe[];
  /** What `--backend auto` picks here. */
  auto: BackendName | null;
  versions: Record<string, string | null>;
  threads: {
    cpus: number;
    availableParallelism: number;
    TF_NUM_INTRAOP_THREADS: string | null;
    TF_NUM_INTEROP_THREADS: string | null;
    OMP_NUM_THREADS: string | null;
  };
  gpu: {
    /** Whether TensorFlow placed its eager context on a GPU (null: tensorflow backend not loaded). */
    tensorflowUsesGpu: boolean | null;
    /** NVIDIA GPUs nvidia-smi lists ("name, memory"), empty without a driver. */
    devices: string[];
  };
  /** What `mnxc setup tensorflow` recorded, or null if it has not run (to completion). */
  tensorflowSetup: SetupStamp | null;
  /** What `mnxc setup native` recorded, or null if it has not run (to completion). */
  nativeSetup: NativeStamp | null;
}

const requireHere = createRequire(import.meta.url);

function packageVersion(name: string): string | null {
  try {
    return (requireHere(`${name}/package.json`) as { version: string }).version;
  } catch {
    return null;
  }
}

function nvidiaDevices(): string[] {
  const run = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 20_000 });
  if (run.error || run.status !== 0) return [];
  return run.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

export async function doctorReport(): Promise<DoctorReport> {
  const backends = await probeBackends();
  const binding = tensorflowBinding();
  const env = (name: string) => process.env[name] ?? null;
  return {
    platform: `${process.platform}-${process.arch}`,
    backends,
    auto: backends.find((b) => b.available)?.name ?? null,
    versions: {
      node: process.versions.node,
      '@tensorflow/tfjs': packageVersion('@tensorflow/tfjs'),
      '@tensorflow/tfjs-core': packageVersion('@tensorflow/tfjs-core'),
      '@tensorflow/tfjs-backend-wasm': packageVersion('@tensorflow/tfjs-backend-wasm'),
      '@tensorflow/tfjs-node': binding?.packageVersion ?? null,
      tensorflow: binding?.tensorflowVersion ?? null,
    },
    threads: {
      cpus: cpus().length,
      availableParallelism: availableParallelism(),
      TF_NUM_INTRAOP_THREADS: env('TF_NUM_INTRAOP_THREADS'),
      TF_NUM_INTEROP_THREADS: env('TF_NUM_INTEROP_THREADS'),
      OMP_NUM_THREADS: env('OMP_NUM_THREADS'),
    },
    gpu: { tensorflowUsesGpu: binding ? binding.usingGpu : null, devices: nvidiaDevices() },
    tensorflowSetup: readSetupStamp(),
    nativeSetup: readNativeStamp(),
  };
}
