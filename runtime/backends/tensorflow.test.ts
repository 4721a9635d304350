import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers the gradients (the tfjs-core bundle has none)
import { useBackend } from '../backend.js';
import { loadTensorflowBinding, readSetupStamp, tensorflowBinding } from './tensorflow.js';
import { epilogueKernelsInstalled, fusedMatMulInstalled } from './tensorflow-fused.js';
import { hasEpilogueKernels, matMulBiasAdd, matMulBiasGelu } from '../kernels/pointwise.js';
import { geluValue } from '../kernels/gelu.js';
import { depthwiseConv3d } from '../ops/depthwise-conv3d.js';
import { normGeluPointwise } from '../kernels/fused-pointwise.js';
import { groupNorm } from '../ops/group-norm.js';
import { buildModel } from '../model/model.js';
import { blockIR } from '../model/test-ir.js';

// Present after `mnxc setup tensorflow` (CI runs it); skipped where it has not been built.
const whyNot = await loadTensorflowBinding();
const BIN = join(ROOT, 'bin', 'mnxc.js');

/** Deterministic pseudo-random values in [-1, 1): the same inputs on both backends. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

interface Results {
  [name: string]: Float32Array;
}

/** conv3d, depthwiseConv2d and matMul with their gradients, on the active backend. */
function compute(): Results {
  return tf.tidy(() => {
    const x3 = tf.tensor5d(values(2 * 6 * 7 * 5 * 3, 1), [2, 6, 7, 5, 3]);
    const w3 = tf.tensor5d(values(3 * 3 * 3 * 3 * 4, 2), [3, 3, 3, 3, 4]);
    const conv = (x: tf.Tensor5D, w: tf.Tensor5D) => tf.conv3d(x, w, [1, 2, 1], 'same');
    const [dx3, dw3] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(conv(x as tf.Tensor5D, w as tf.Tensor5D))))([x3, w3]);

    const x2 = tf.tensor4d(values(3 * 9 * 8 * 4, 3), [3, 9, 8, 4]);
    const w2 = tf.tensor4d(values(3 * 3 * 4 * 1, 4), [3, 3, 4, 1]);
    const depthwise = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.depthwiseConv2d(x, w, 1, 'same');
    const [dx2, dw2] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(depthwise(x as tf.Tensor4D, w as tf.Tensor4D))))([x2, w2]);

    const a = tf.tensor2d(values(37 * 32, 5), [37, 32]);
    const b = tf.tensor2d(values(32 * 64, 6), [32, 64]);
    const [da, db] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.matMul(p as tf.Tensor2D, q as tf.Tensor2D))))([a, b]);

    // tf.fused.matMul with a bias: TensorFlow's fused kernel where it applies (2-D or a batch of
    // one, either transpose), tfjs-node's product + add for a real batch.
    const bias = tf.tensor1d(values(64, 7));
    const at = tf.transpose(a);
    const bt = tf.transpose(b);
    const a3 = tf.tensor3d(values(2 * 37 * 32, 8), [2, 37, 32]);
    // The depthwise 3-D op with its written-out stride-1 gradient (two samples, bias).
    const xd = tf.tensor5d(values(2 * 5 * 6 * 4 * 3, 9), [2, 5, 6, 4, 3]);
    const fd = tf.tensor5d(values(3 * 3 * 3 * 3, 10), [3, 3, 3, 3, 1]);
    const bd = tf.tensor1d(values(3, 11));
    const dwConv = (x: tf.Tensor, f: tf.Tensor, b: tf.Tensor) => depthwiseConv3d(x, f, 1, 1, b);
    const [dxd, dfd, dbd] = tf.grads((x: tf.Tensor, f: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(dwConv(x, f, b))))([xd, fd, bd]);
    // A block tail as one op (two samples: the per-sample oneDNN GELU epilogue on tensorflow).
    const xt = tf.tensor5d(values(2 * 4 * 3 * 5 * 6, 16), [2, 4, 3, 5, 6]);
    const tailParams = [tf.tensor1d(values(6, 17)), tf.tensor1d(values(6, 18)), tf.tensor2d(values(6 * 12, 19), [6, 12]), tf.tensor1d(values(12, 20)), tf.tensor2d(values(12 * 5, 21), [12, 5]), tf.tensor1d(values(5, 22))];
    const tail = (x: tf.Tensor, g: tf.Tensor, bt: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor, w3: tf.Tensor, b3: tf.Tensor) =>
      normGeluPointwise(x, 6, 1e-5, g, bt, w2 as tf.Tensor2D, b2, w3 as tf.Tensor2D, b3);
    const tailGrads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.square(tail(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!))))([xt, ...tailParams]);
    const out = {
      normGeluPointwise: tail(xt, ...(tailParams as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])),
      ...Object.fromEntries(tailGrads.map((g, i) => [`normGeluPointwise d${i}`, g])),
      depthwiseConv3d: dwConv(xd, fd, bd),
      'depthwiseConv3d dx': dxd!,
      'depthwiseConv3d dfilter': dfd!,
      'depthwiseConv3d dbias': dbd!,
      'fused matMul': tf.fused.matMul({ a, b, bias }),
      'fused matMul aᵀ bᵀ': tf.fused.matMul({ a: at, b: bt, bias, transposeA: true, transposeB: true }),
      'fused matMul batch of 1': tf.fused.matMul({ a: tf.expandDims(a, 0), b: tf.expandDims(b, 0), bias }),
      'fused matMul batch of 2': tf.fused.matMul({ a: a3, b, bias }),
      conv3d: conv(x3, w3),
      'conv3d dx': dx3!,
      'conv3d dw': dw3!,
      depthwiseConv2d: depthwise(x2, w2),
      'depthwiseConv2d dx': dx2!,
      'depthwiseConv2d dw': dw2!,
      matMul: tf.matMul(a, b),
      'matMul da': da!,
      'matMul db': db!,
    };
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dataSync() as Float32Array]));
  });
}

function maxRelativeError(got: Float32Array, want: Float32Array): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  return worst / scale;
}

describe.skipIf(whyNot !== null)('tensorflow backend (built by mnxc setup tensorflow)', () => {
  it('is the backend our tfjs-core reports, with the C library version known', async () => {
    expect(await useBackend('tensorflow')).toBe('tensorflow');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(tf.engine().backendName).toBe('tensorflow');
    expect(tensorflowBinding()?.tensorflowVersion).toMatch(/^\d+\.\d+/);
    // A new tensor's data lives in the native backend, not in a JS one.
    const native = tf.engine().findBackend('tensorflow')!;
    const before = native.numDataIds();
    const y = tf.conv3d(tf.ones([1, 4, 4, 4, 2]) as tf.Tensor5D, tf.ones([3, 3, 3, 2, 2]) as tf.Tensor5D, 1, 'same');
    expect(native.numDataIds()).toBeGreaterThan(before);
    expect(y.dataSync()[0]).toBe(16); // a corner voxel sees 2×2×2 positions × 2 channels
    y.dispose();
  });

  it('runs tf.fused.matMul as TensorFlow\'s fused kernel when the addon was built with the string-list patch', async () => {
    await useBackend('tensorflow');
    const stamp = readSetupStamp();
    if (tensorflowBinding()?.location !== '.mnxc/tensorflow') return; // an npm-installed tfjs-node is not patched
    expect(fusedMatMulInstalled()).toBe(!!stamp?.bindingPatches?.includes('string-list-attrs'));
    if (!fusedMatMulInstalled()) return;
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tf.tensor2d([1, 0, -1, 2, 0.5, 1], [3, 2]);
    const profile = await tf.profile(() => tf.fused.matMul({ a, b, bias: tf.tensor1d([10, 20]) }));
    // One kernel, no separate Add.
    expect(profile.kernels.map((k) => k.name)).not.toContain('Add');
    expect(Array.from((profile.result as tf.Tensor).dataSync())).toEqual([10.5, 27, 12, 36]);
    tf.dispose([a, b, profile.result as tf.Tensor]);
  });

  it('runs GELU(a·b + bias) and a·b + bias + addend as single oneDNN kernels where it has them', async () => {
    await useBackend('tensorflow');
    if (!epilogueKernelsInstalled()) return; // an unpatched addon, or a TensorFlow without oneDNN
    expect(hasEpilogueKernels()).toBe(true);
    const a = tf.tensor2d(values(300 * 32, 11), [300, 32]);
    const b = tf.tensor2d(values(32 * 48, 12), [32, 48]);
    const bias = tf.tensor1d(values(48, 13));
    const addend = tf.tensor2d(values(300 * 48, 14), [300, 48]);
    const h = tf.add(tf.matMul(a, b), bias);
    const profile = await tf.profile(() => [matMulBiasGelu(a, b, bias), matMulBiasAdd(a, b, bias, addend)]);
    expect(profile.kernels.map((k) => k.name)).toEqual(['MnxcMatMulBiasGelu', 'MnxcMatMulBiasAdd']);
    const [gelu, sum] = profile.result as tf.Tensor[];
    expect(maxRelativeError(gelu!.dataSync() as Float32Array, geluValue(h).dataSync() as Float32Array)).toBeLessThan(1e-5);
    expect(maxRelativeError(sum!.dataSync() as Float32Array, tf.add(h, addend).dataSync() as Float32Array)).toBeLessThan(1e-6);
    // A forward pass inside a caller's tf.grads takes the plan with gradients, not the epilogues.
    const model = buildModel(blockIR(4, 2, 3), { seed: 2 });
    const x = tf.tensor5d(values(2 * 5 * 5 * 5 * 4, 15), [2, 5, 5, 5, 4]);
    const [viaForward] = tf.grads((a: tf.Tensor) => tf.sum(tf.square(model.forward(a)[0]!)))([x]);
    const [viaTraining] = tf.grads((a: tf.Tensor) => tf.sum(tf.square(model.forward(a, { training: true })[0]!)))([x]);
    expect(maxRelativeError(viaForward!.dataSync() as Float32Array, viaTraining!.dataSync() as Float32Array)).toBeLessThan(1e-6);
    model.dispose();
    await useBackend('cpu');
    expect(hasEpilogueKernels()).toBe(false);
  });

  it("sums GroupNorm's squared deviations with TensorFlow's EuclideanNorm, within 1e-5 of float64 at 64³", async () => {
    await useBackend('tensorflow');
    // Offset means, as activations have (the precision test of runtime/kernels, on this backend).
    const C = 4;
    const V = 64 ** 3;
    const data = new Float32Array(V * C);
    let s = 7;
    for (let i = 0; i < data.length; i++) {
      s = (s * 16807) % 2147483647;
      data[i] = 3 + (i % C) + (s / 2147483647 - 0.5) * 2;
    }
    const ref = new Float64Array(V * C);
    for (let c = 0; c < C; c++) {
      let m = 0;
      for (let v = 0; v < V; v++) m += data[v * C + c]!;
      m /= V;
      let q = 0;
      for (let v = 0; v < V; v++) q += (data[v * C + c]! - m) ** 2;
      const r = 1 / Math.sqrt(q / V + 1e-5);
      for (let v = 0; v < V; v++) ref[v * C + c] = (data[v * C + c]! - m) * r;
    }
    const x = tf.tensor(data, [1, 64, 64, 64, C]);
    const profile = await tf.profile(() => groupNorm(x, C, 1e-5));
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain('MnxcSumOfSquares');
    expect(names).not.toContain('Square');
    const y = profile.result as tf.Tensor;
    const got = y.dataSync();
    let err = 0;
    for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - ref[i]!));
    expect(err).toBeLessThan(1e-5);
    tf.dispose([x, y]);
  });

  it('auto picks tensorflow', async () => {
    await tf.setBackend('cpu');
    expect(await useBackend('auto')).toBe('tensorflow');
  });

  it('matches the cpu backend on conv3d, depthwiseConv2d, matMul and their gradients', async () => {
    await useBackend('cpu');
    const want = compute();
    await useBackend('tensorflow');
    const got = compute();
    for (const name of Object.keys(want)) {
      expect(got[name]!.length, name).toBe(want[name]!.length);
      // float32 sums of up to 81 products in different orders (oneDNN vs JS): ~1e-6 relative.
      expect(maxRelativeError(got[name]!, want[name]!), name).toBeLessThan(1e-5);
    }
  });
});

describe('tensorflow backend not built', () => {
  // Runs on every machine: a child process is pointed at an empty build folder.
  it('says why and how to get it, and an explicit request fails with that reason', () => {
    const empty = mkdtempSync(join(tmpdir(), 'mnxc-no-tf-'));
    try {
      const env = { ...process.env, MNXC_TENSORFLOW_HOME: empty };
      const doctor = spawnSync(process.execPath, [BIN, 'doctor', '--json'], { env, encoding: 'utf8' });
      const report = JSON.parse(doctor.stdout) as { backends: { name: string; available: boolean; reason?: string }[] };
      const tensorflow = report.backends.find((b) => b.name === 'tensorflow')!;
      expect(tensorflow.available).toBe(false);
      expect(JSON.stringify(tensorflow)).toMatch(/mnxc setup tensorflow/);
      const request = "const m = await import('./runtime/backend.ts'); try { await m.useBackend('tensorflow'); } catch (e) { console.error(e.message); process.exit(3); }";
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', request], { env, cwd: ROOT, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/backend tensorflow is not available[^]*mnxc setup tensorflow/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
