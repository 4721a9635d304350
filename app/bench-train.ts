/**
 * Training-step benchmark: seconds per iteration (forward + backward + clipping + AdamW, batch 2)
 * and peak memory for a spec at a patch size, with and without gradient checkpointing.
 *
 *   npx tsx app/bench-train.ts SPEC SIZE [--backend B] [--iterations N] [--checkpoint] [--set k=v ...]
 *
 * Prints one JSON line. Memory: peak RSS of the process (sampled around each step) and TF.js's
 * own count of live tensor bytes at its peak (numBytes includes the variables).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { compileFile } from '../compiler/compile.js';
import { useBackend, type BackendChoice } from '../runtime/backend.js';
import { MEDNEXT_DS_WEIGHTS } from '../runtime/data/plan/plans.js';
import { buildModel } from '../runtime/model/model.js';
import { deepSupervisionLoss, headWeights } from '../runtime/train/loss.js';
import { clipByGlobalNorm, Optimizer } from '../runtime/train/optimizer.js';
import { headShapes } from '../runtime/train/trainer.js';
import { variableGrads } from '../runtime/autodiff/backprop.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { backend: { type: 'string', default: 'auto' }, iterations: { type: 'string', default: '3' }, checkpoint: { type: 'boolean' }, set: { type: 'string', multiple: true } },
});
const [spec, sizeText] = positionals;
if (!spec || !sizeText) throw new Error('usage: bench-train.ts SPEC SIZE [--backend B] [--iterations N] [--checkpoint] [--set k=v]');
const size = Number(sizeText);
const backend = await useBackend(values.backend as BackendChoice);
const set = [...(values.set ?? []), ...(values.checkpoint ? ['checkpoint_style="outside_block"'] : [])];
const r = compileFile(spec, { inputSize: [size, size, size], set });
if (!r.ir) throw new Error(`${spec} does not compile`);
const ir = r.ir;
const model = buildModel(ir, { seed: 0 });
const vars = model.trainableVariables();
const opt = new Optimizer(vars, vars.map((v) => v.name), { name: 'adamw', lr: 1e-3, weight_decay: 3e-5, eps: 1e-4, betas: [0.9, 0.999], momentum: 0.99, nesterov: true });
const heads = headShapes(ir, [size, size, size]);
const weights = headWeights(MEDNEXT_DS_WEIGHTS, heads.length);
const K = ir.nodes.find((n) => n.id === ir.outputs[0])!.out.channels;
const loss = { name: 'dice_ce' as const, batch_dice: false, smooth: 1e-5, do_background: false, weight_ce: 1, weight_dice: 1 };
let peakRss = process.memoryUsage().rss;
let peakTfBytes = 0;
const sample = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  peakTfBytes = Math.max(peakTfBytes, tf.memory().numBytes);
};
const times: number[] = [];
const n = Number(values.iterations);
for (let i = 0; i < n + 1; i++) {
  const x = tf.randomNormal([2, size, size, size, ir.input.channels]);
  const ys = heads.map((s) => tf.randomUniform([2, ...s], 0, K, 'int32'));
  const t0 = performance.now();
  const { value, grads } = variableGrads(() => {
    const outs = model.forward(x, { training: true, checkpoint: !!values.checkpoint });
    sample();
    return deepSupervisionLoss(outs, ys, weights, loss);
  }, vars);
  sample();
  await value.data();
  const { grads: clipped, norm } = clipByGlobalNorm(vars.map((v) => grads[v.name]!), 12);
  opt.apply(clipped, 1e-3);
  await vars[0]!.data();
  sample();
  tf.dispose([x, ...ys, value, norm, ...clipped, ...Object.values(grads)]);
  if (i > 0) times.push((performance.now() - t0) / 1000); // the first step warms up
}
const mean = times.reduce((a, b) => a + b, 0) / times.length;
console.log(JSON.stringify({ spec, size, batch: 2, backend, checkpoint: !!values.checkpoint && ir.hints.checkpointStyle === 'outside_block', secondsPerIteration: +mean.toFixed(3), times: times.map((t) => +t.toFixed(3)), peakRssMiB: Math.round(peakRss / 2 ** 20), peakTfMiB: Math.round(peakTfBytes / 2 ** 20) }));
