/**
 * Where the time goes: TF.js kernel time per kernel name for one MedNeXt forward or training
 * step (forward, mean loss, backward), after a warm-up, and what bounds each kernel.
 *
 *   npx tsx bench/profile.ts [--backend tensorflow] [--variant S] [--kernel 3] [--size 64] [--train] [--top 25] [--reps 3] [--calls N]
 *
 * --calls N also lists the N slowest single calls with their input shapes.
 *
 * Kernel times come from tf.profile (the backend's own timer; on cpu-based backends the time of
 * the call, the output's allocation included); they do not add up to the wall time, which also
 * holds the engine's bookkeeping and garbage collection. Only registered kernels are listed: the
 * op and custom-gradient scopes around them would count their time twice.
 *
 * Per kernel: bytes moved (every input read once, every output written once: the least any
 * implementation moves) and FLOPs (products: 2·M·K·N; depthwise convolutions: 2 per tap per
 * output; other kernels: none counted), each as a rate, and `ideal`: the time the kernel would
 * take at the stream bandwidth and matrix-product peak measured in this process (the larger of
 * the two), as a share of its measured time. `bound` names the larger of the two.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import { compileFile } from '../compiler/compile.js';
import { useBackend, type BackendChoice } from '../runtime/backend.js';
import { buildModel } from '../runtime/model/model.js';
import { variableGrads } from '../runtime/autodiff/backprop.js';
import { matMulPeak } from './child.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'tensorflow' },
    variant: { type: 'string', default: 'S' },
    kernel: { type: 'string', default: '3' },
    size: { type: 'string', default: '64' },
    train: { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
    reps: { type: 'string', default: '3' },
    calls: { type: 'string', default: '0' },
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
let wall = Infinity;
for (let i = 0; i < Math.max(1, Number(values.reps)); i++) {
  const t0 = performance.now();
  step();
  wall = Math.min(wall, (performance.now() - t0) / 1000);
}

/** Best GB/s of an element-wise add over 64 MiB operands (two reads, one write). */
function streamBandwidth(): number {
  const n = 16 << 20;
  const a = tf.randomNormal([n]), b = tf.randomNormal([n]);
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const y = tf.add(a, b);
    y.dataSync();
    y.dispose();
    if (i > 0) best = Math.min(best, (performance.now() - t0) / 1000);
  }
  tf.dispose([a, b]);
  return (3 * 4 * n) / best / 1e9;
}

const count = (shape: number[] | null) => (shape ?? []).reduce((a, d) => a * d, 1);
/** FLOPs of one call, from its input and output shapes (0 for kernels that are not products or convolutions). */
function flopsOf(name: string, ins: Array<number[] | null>, outs: number[][]): number {
  const out = outs[0] ?? [];
  if (/MatMul/.test(name)) {
    const n = out[out.length - 1] ?? 0;
    return (2 * count(ins[0]!) * n * count(out)) / Math.max(1, count(out)); // 2·(batch·M·K)·N
  }
  if (name === 'MnxcDepthwiseConv3d') return 2 * count(out) * (count(ins[1]!) / (out[4] ?? 1));
  if (name === 'MnxcDepthwiseConv3dBackpropInput' || name === 'MnxcDepthwiseConv3dBackpropFilter') {
    const dy = name.endsWith('Input') ? ins[0]! : ins[1]!;
    const taps = name.endsWith('Input') ? count(ins[1]!) / (dy[4] ?? 1) : count(out) / (dy[4] ?? 1);
    return 2 * count(dy) * taps;
  }
  return 0;
}

const prof = await tf.profile(step);
const calls: Array<{ name: string; ms: number; shapes: string }> = [];
const byKernel = new Map<string, { ms: number; calls: number; bytes: number; flops: number }>();
for (const k of prof.kernels) {
  if (!tf.getKernel(k.name, backend)) continue; // an op or custom-gradient scope: its kernels are listed themselves
  const ms = await k.kernelTimeMs;
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0, bytes: 0, flops: 0 };
  e.ms += typeof ms === 'number' ? ms : 0;
  calls.push({ name: k.name, ms: typeof ms === 'number' ? ms : 0, shapes: `${k.inputShapes.map((sh) => `[${sh ?? ''}]`).join(' ')} → ${k.outputShapes.map((sh) => `[${sh}]`).join(' ')}` });
  e.calls++;
  const view = k.name === 'Reshape' || k.name === 'Identity'; // no data moved
  if (!view) e.bytes += 4 * (k.inputShapes.reduce((a, sh) => a + count(sh), 0) + k.outputShapes.reduce((a, sh) => a + count(sh), 0));
  e.flops += flopsOf(k.name, k.inputShapes, k.outputShapes);
  byKernel.set(k.name, e);
}
const bandwidth = streamBandwidth();
const peak = await matMulPeak(1024);
const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((a, [, e]) => a + e.ms, 0);
console.log(
  `MedNeXt-${values.variant} k${values.kernel} ${s}³ ${values.train ? 'training step' : 'forward'} on ${backend}: wall ${wall.toFixed(2)} s (min of ${values.reps}), kernel time ${(total / 1000).toFixed(2)} s; ` +
    `measured here: stream ${bandwidth.toFixed(1)} GB/s, matMul peak ${peak.toFixed(0)} GFLOP/s`,
);
console.log(`${'kernel'.padEnd(36)} ${'ms'.padStart(7)} ${'share'.padStart(6)} ${'calls'.padStart(6)} ${'GB'.padStart(6)} ${'GB/s'.padStart(6)} ${'GFLOP'.padStart(6)} ${'GFLOP/s'.padStart(7)} ${'ideal'.padStart(6)} bound`);
for (const [name, e] of rows.slice(0, Number(values.top))) {
  const sec = e.ms / 1000;
  const tBytes = e.bytes / 1e9 / bandwidth, tFlops = e.flops / 1e9 / peak;
  console.log(
    `${name.padEnd(36)} ${e.ms.toFixed(0).padStart(7)} ${((100 * e.ms) / total).toFixed(1).padStart(5)}% ${String(e.calls).padStart(6)} ` +
      `${(e.bytes / 1e9).toFixed(2).padStart(6)} ${(e.bytes / 1e9 / sec).toFixed(1).padStart(6)} ${(e.flops / 1e9).toFixed(2).padStart(6)} ${(e.flops / 1e9 / sec).toFixed(1).padStart(7)} ` +
      `${((100 * Math.max(tBytes, tFlops)) / sec).toFixed(0).padStart(5)}% ${tFlops > tBytes ? 'FLOPs' : 'bytes'}`,
  );
}
if (Number(values.calls) > 0) {
  console.log('\nslowest calls:');
  for (const c of calls.sort((a, b) => b.ms - a.ms).slice(0, Number(values.calls))) console.log(`${c.name.padEnd(36)} ${c.ms.toFixed(1).padStart(7)} ms  ${c.shapes}`);
}
