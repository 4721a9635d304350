/**
 * Prediction benchmark: MedNeXt (default S, kernel 3, random weights) on a synthetic 1 mm
 * 256×256×128 one-channel volume, through the whole `predictCases` pipeline.
 *
 *   npx tsx app/bench-predict.ts --backend tensorflow --patch 64 [--no-tta] [--variant S] [--kernel 3] [--size 256,256,128]
 *
 * Prints the wall time, the time per network pass, and the process's peak resident memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_CHOICES, useBackend, type BackendChoice } from '../runtime/backend.js';
import { writeTestCase } from '../runtime/data/dataset/index.js';
import { findInputCases } from '../runtime/infer/inputs.js';
import { predictCases } from '../runtime/infer/predict.js';
import { RunFolder } from './run-folder.js';
import { writeTestRunFolder } from './testing.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    patch: { type: 'string', default: '64' },
    variant: { type: 'string', default: 'S' },
    kernel: { type: 'string', default: '3' },
    size: { type: 'string', default: '256,256,128' },
    'no-tta': { type: 'boolean', default: false },
  },
});
if (!BACKEND_CHOICES.includes(values.backend as BackendChoice)) throw new Error(`--backend: one of ${BACKEND_CHOICES.join(', ')}`);
const backend = await useBackend(values.backend as BackendChoice);
const P = Number(values.patch);
const [X, Y, Z] = values.size!.split(',').map(Number) as [number, number, number];
const root = mkdtempSync(join(tmpdir(), 'mnxc-bench-predict-'));
try {
  const runDir = join(root, 'run');
  writeTestRunFolder(runDir, {
    spec: join(import.meta.dirname, '..', 'examples', 'mednext.mnx'),
    variant: values.variant,
    set: [`kernel_size=${values.kernel}`, 'n_classes=3'],
    channels: ['MR'],
    labels: { '0': 'background', '1': 'organ', '2': 'core' },
    patch: [P, P, P],
    folds: { '0': 1 },
  });
  // Non-zero everywhere, so cropping keeps the whole volume.
  const n = X * Y * Z;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = 100 + 50 * Math.sin(i * 0.001) + ((i * 2654435761) % 97);
  writeTestCase(root, { id: 'vol', shape: [X, Y, Z], channels: [data], label: null }, 'Ts');
  const run = RunFolder.open(runDir);
  const tta = !values['no-tta'];
  let first = 0;
  let last = 0;
  const t0 = performance.now();
  const [r] = await predictCases({
    run,
    cases: findInputCases(join(root, 'imagesTs'), 1),
    outDir: join(root, 'out'),
    folds: ['0'],
    checkpoint: 'final',
    tta,
    onWindow: ({ done, total }) => {
      if (done === 1) first = performance.now();
      if (done === total) last = performance.now();
      process.stderr.write(`\rwindow ${done}/${total} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    },
  });
  const total = (performance.now() - t0) / 1000;
  const maxRssGB = process.resourceUsage().maxRSS / 1024 / 1024;
  process.stderr.write('\n');
  console.log(JSON.stringify({
    backend, variant: values.variant, kernel: Number(values.kernel), size: [X, Y, Z], patch: P, tta,
    windows: r!.windows, passes: r!.passes, seconds: Number(total.toFixed(1)),
    // Windows 2 … n only: the first pays for kernel set-up; preprocessing, window 1 and export are the rest.
    seconds_per_pass: Number(((last - first) / 1000 / Math.max(1, r!.passes - r!.passes / r!.windows)).toFixed(3)),
    seconds_outside_windows_2_to_n: Number(((first - t0 + performance.now() - last) / 1000).toFixed(1)),
    peak_rss_gb: Number(maxRssGB.toFixed(2)),
  }));
} finally {
  rmSync(root, { recursive: true, force: true });
}
