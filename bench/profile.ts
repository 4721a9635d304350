/**
 * Where the time goes: TF.js kernel time per kernel name for one MedNeXt forward or training
 * step (forward, mean loss, backward), after a warm-up.
 *
 *   npx tsx bench/profile.ts [--backend tensorflow] [--variant S] [--kernel 3] [--size 64] [--train] [--top 25]
 *
 * Kernel times come from tf.profile (the backend's own timer); they do not add up to the wall
 * time, which also holds the engine's bookkeeping and garbage collection.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import { compileFile } from '../compiler/compile.js';
import { useBackend, type BackendChoice } from '../runtime/backend.js';
import { buildModel } from '../runtime/model/model.js';
import { variableGrads } from '../runtime/autodiff/backprop.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'tensorflow' },
    variant: { type: 'string', default: 'S' },
    kernel: { type: 'string', default: '3' },
    size: { type: 'string', default: '64' },
    train: { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
  },
});
const backend = await useBackend(values.backend as BackendChoice);
const s = Number(values.size);
const r = compileFile('examples/mednext.mnx', { variant: values.variant, set: [`kernel_size=${values.kernel}`, 'n_classes=3', 'deep_supervision=true'], inputSize: [s, s, s] });
if (!r.ir) throw new Error('examples/mednext.mnx does not compile');
const model = buildModel(r.ir, { seed: 0 });
const x = tf.randomNormal([1, s, s, s, 1]);
const vars = model.trainableVariables();
const step = () => {
  if (!values.train) {
    const ys = model.forward(x);
    ys.forEach((y) => y.dataSync());
    tf.dispose(ys);
    return;
  }
  const { value, grads } = variableGrads(() => tf.addN(model.forward(x, { training: true }).map((o) => tf.mean(o))) as tf.Scalar, vars);
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
};
step();
const t0 = performance.now();
step();
const wall = (performance.now() - t0) / 1000;
const prof = await tf.profile(step);
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of prof.kernels) {
  const ms = await k.kernelTimeMs;
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += typeof ms === 'number' ? ms : 0;
  e.calls++;
  byKernel.set(k.name, e);
}
const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((a, [, e]) => a + e.ms, 0);
console.log(`MedNeXt-${values.variant} k${values.kernel} ${s}³ ${values.train ? 'training step' : 'forward'} on ${backend}: wall ${wall.toFixed(2)} s, kernel time ${(total / 1000).toFixed(2)} s`);
console.log(`${'kernel'.padEnd(36)} ${'ms'.padStart(8)} ${'share'.padStart(6)} ${'calls'.padStart(6)}`);
for (const [name, e] of rows.slice(0, Number(values.top))) {
  console.log(`${name.padEnd(36)} ${e.ms.toFixed(0).padStart(8)} ${((100 * e.ms) / total).toFixed(1).padStart(5)}% ${String(e.calls).padStart(6)}`);
}
