/**
 * A small real preprocessed dataset for training tests: NIfTI cases written with the real writer,
 * planned and preprocessed by the real pipeline. Each case has bright spheres (label 1) on a
 * textured background, so a tiny network can learn it in a few dozen iterations. Not used by the
 * pipeline itself.
 */
import { join } from 'node:path';
import { loadDataset, writeTestDataset, type TestCaseSpec } from '../data/dataset/index.js';
import { computeFingerprint, parsePlans, planFromFingerprint, stringifyPlans, type Plans } from '../data/plan/index.js';
import { preprocessDataset } from '../data/preprocess/index.js';
import { Rng } from './rng.js';

export function sphereCase(id: string, size: number, seed: number): TestCaseSpec {
  const rng = new Rng(seed);
  const n = size ** 3;
  const image = new Float32Array(n);
  const label = new Uint8Array(n);
  const spheres = Array.from({ length: 2 }, () => ({
    c: [rng.uniform(5, size - 5), rng.uniform(5, size - 5), rng.uniform(5, size - 5)],
    r: rng.uniform(3, 5),
  }));
  for (let k = 0; k < size; k++)
    for (let j = 0; j < size; j++)
      for (let i = 0; i < size; i++) {
        const idx = i + size * (j + size * k);
        const inside = spheres.some((s) => Math.hypot(i - s.c[0]!, j - s.c[1]!, k - s.c[2]!) < s.r);
        label[idx] = inside ? 1 : 0;
        image[idx] = 50 + (inside ? 100 : 0) + 15 * Math.sin(i / 2 + seed) * Math.cos(j / 3) + 10 * rng.normal();
      }
  return { id, channels: [image], label, shape: [size, size, size] };
}

/** Writes, plans and preprocesses `cases` sphere cases; returns the preprocessed folder and the plans. */
export async function makePreprocessedSpheres(root: string, cases = 6, size = 24): Promise<{ dir: string; plans: Plans; ids: string[] }> {
  const datasetDir = join(root, 'Dataset900_Spheres');
  const specs = Array.from({ length: cases }, (_, i) => sphereCase(`case_${String(i).padStart(3, '0')}`, size, 100 + i));
  writeTestDataset(datasetDir, { channelNames: ['MR'], labels: { background: 0, sphere: 1 }, cases: specs, name: 'Spheres' });
  const ds = loadDataset(datasetDir);
  const fp = computeFingerprint({ name: 'Dataset900_Spheres', channels: ds.channels, labels: { '0': 'background', '1': 'sphere' }, cases: ds.training });
  // through YAML and back, as `mnxc plan` → `mnxc preprocess` pass it (the preprocessing hash depends on key order)
  const plans = parsePlans(stringifyPlans(planFromFingerprint(fp, { patch: [16, 16, 16], batchSize: 2 })), 'plans.yaml');
  const dir = join(root, 'preprocessed');
  const summary = await preprocessDataset({ sources: ds.training, plans, outDir: dir, workers: 0 });
  if (summary.failed.length > 0) throw new Error(`preprocessing failed: ${summary.failed.map((f) => f.error).join('; ')}`);
  return { dir, plans, ids: specs.map((s) => s.id) };
}
