import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { savePlans } from '../runtime/data/plan/index.js';
import { makePreprocessedSpheres } from '../runtime/train/testing.js';
import { mnxcInProcess } from '../tests/cli.js';

/**
 * The baselines train through the same pipeline as MedNeXt (`mnxc train`): a few iterations on
 * a small synthetic dataset (16³ patches), small configurations of the example specs.
 * SwinUNETR (input divisible by 32), nnFormer (crop divisible by patch·8 = 16×32×32) and
 * TransUNet (2-D) do not fit these 16³ patches.
 */
const root = mkdtempSync(join(tmpdir(), 'mnxc-baselines-train-'));
let pre: string;
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  const made = await makePreprocessedSpheres(root);
  pre = made.dir;
  savePlans(join(pre, 'plans.yaml'), { ...made.plans, model: { spec: resolve('examples/tiny.mnx'), set: {} } });
}, 120_000);

const RUNS: { name: string; spec: string; set: string[] }[] = [
  { name: 'TransBTS', spec: 'examples/baselines/transbts.mnx', set: ['img_dim=16', 'embedding_dim=256', 'num_layers=1', 'num_heads=4', 'hidden_dim=32', 'num_classes=2'] },
  { name: 'UNETR', spec: 'examples/baselines/unetr.mnx', set: ['img_size=[16, 16, 16]', 'feature_size=4', 'hidden_size=32', 'mlp_dim=64', 'num_heads=4', 'out_channels=2'] },
  { name: 'UXNET', spec: 'examples/baselines/uxnet.mnx', set: ['feat_size=[48, 8, 16, 32]', 'hidden_size=32', 'out_chans=2'] },
];

describe('mnxc train accepts the baselines', () => {
  for (const r of RUNS) {
    it(`${r.name}: a short run with a falling training loss`, async () => {
      const run = join(root, r.name);
      const res = await mnxcInProcess('train', pre, '--fold', '0', '-o', run, '--spec', r.spec, ...r.set.flatMap((s) => ['--set', s]), '--epochs', '4', '--iterations', '3', '--val-iterations', '1', '--workers', '0');
      expect(res.code, res.err).toBe(0);
      const losses = [...res.err.matchAll(/train loss (-?[\d.]+)/g)].map((m) => Number(m[1]));
      console.log(r.name, losses);
      expect(losses.length).toBe(4);
      expect(losses.at(-1)!).toBeLessThan(losses[0]!);
      expect(readFileSync(join(run, 'fold_0', 'training_log.txt'), 'utf8')).toMatch(/epoch 4/);
      // and the run predicts (sliding window, no mirroring, one case)
      const images = join(root, 'Dataset900_Spheres', 'imagesTr');
      const one = readdirSync(images).filter((f) => f.endsWith('.nii.gz'))[0]!;
      const out = join(root, `${r.name}-pred`);
      const p = await mnxcInProcess('predict', '-i', join(images, one), '-o', out, '-m', run, '--no-tta');
      expect(p.code, p.err).toBe(0);
      expect(readdirSync(out).some((f) => f.endsWith('.nii.gz'))).toBe(true);
      expect(existsSync(out)).toBe(true);
    }, 300_000);
  }
});
