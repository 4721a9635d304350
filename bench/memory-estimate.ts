/**
 * Accuracy of predict's per-case memory estimate (runtime/infer/memory.ts): each case is predicted
 * alone in a fresh process whose peak resident set (getrusage maxrss) is compared with the same
 * command on a one-patch case; the difference is what the case itself took. No timing is reported.
 *
 *   npx tsx bench/memory-estimate.ts [--backend tensorflow]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadPlans } from '../runtime/data/plan/index.js';
import { createImage, writeNifti } from '../runtime/data/nifti/index.js';
import { estimateCaseMemory } from '../runtime/infer/memory.js';
import { writeTestRunFolder } from '../app/testing.js';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'tensorflow' } } });
const root = mkdtempSync(join(tmpdir(), 'mnxc-memory-'));
const run = join(root, 'run');
writeTestRunFolder(run, { spec: 'examples/tiny.mnx', set: ['n_classes=3'], channels: ['CT'], labels: { '0': 'background', '1': 'a', '2': 'b' }, patch: [32, 32, 32], folds: { '0': 1 } });
const plans = loadPlans(join(run, 'plans.yaml'));

function image(name: string, shape: [number, number, number], spacing: [number, number, number]): string {
  const n = shape[0] * shape[1] * shape[2];
  const data = new Int16Array(n);
  for (let i = 0; i < n; i++) data[i] = 100 + ((i * 7919) % 200); // no zero border: nothing is cropped
  const path = join(root, name, 'case_0000.nii.gz');
  writeNifti(path, createImage({ shape, data, affine: [[spacing[0], 0, 0, 0], [0, spacing[1], 0, 0], [0, 0, spacing[2], 0], [0, 0, 0, 1]] }));
  return path;
}

function peakMiB(input: string): number {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, 'bin/mnxc.js', 'predict', '-i', input, '-o', join(root, 'out'), '-m', run, '--backend', values.backend!, '--no-tta', '--step', '1', '--max-memory', '64G'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stderr.trim().split('\n').pop()) / 1024;
}

const base = peakMiB(image('base', [32, 32, 32], [1, 1, 1]));
const cases: [string, [number, number, number], [number, number, number]][] = [
  ['96x96x32 at 0.8x0.8x2.5 mm', [96, 96, 32], [0.8, 0.8, 2.5]],
  ['128x128x64 at 1 mm', [128, 128, 64], [1, 1, 1]],
  ['160^3 at 1 mm', [160, 160, 160], [1, 1, 1]],
  ['128^3 at 0.5 mm (downsampled)', [128, 128, 128], [0.5, 0.5, 0.5]],
  ['64^3 at 2 mm (upsampled)', [64, 64, 64], [2, 2, 2]],
];
console.log(`backend ${values.backend}; baseline (one 32^3 patch) peak RSS ${base.toFixed(0)} MiB`);
console.log('case | estimate MiB | measured MiB (peak - baseline) | estimate / measured');
for (const [name, shape, spacing] of cases) {
  const path = image(name.replace(/\W+/g, '_'), shape, spacing);
  const est = estimateCaseMemory([path], plans, 3).bytes / 2 ** 20;
  const measured = peakMiB(path) - base;
  console.log(`${name} | ${est.toFixed(0)} | ${measured.toFixed(0)} | ${(est / measured).toFixed(2)}`);
}
rmSync(root, { recursive: true, force: true });
