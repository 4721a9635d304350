/**
 * The `native` backend's recycling of kernel output arrays (native/pooled-backend.ts), with the
 * real kernels: what escapes is never reused, arrays are reused, results are bit-identical with the
 * pool on and off (forward and gradients of a tiny MedNeXt), nothing leaks, the byte cap holds.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { compileFile } from '../../compiler/compile.js';
import { ROOT } from '../../tests/fixtures.js';
import { useBackend } from '../backend.js';
import { buildModel, type MnxModel as Model } from '../model/model.js';
import { resetOps } from '../ops/index.js';
import { defaultPoolCap, loadNativeBackend, PooledCpuBackend, poolSetting } from './native.js';

const why = await loadNativeBackend();

let backend: PooledCpuBackend;
beforeAll(async () => {
  expect(why, 'the native addon must be built (mnxc setup native)').toBeNull();
  resetOps();
  await useBackend('native');
  backend = tf.backend() as PooledCpuBackend;
  expect(backend).toBeInstanceOf(PooledCpuBackend);
});
afterEach(() => {
  backend.setPooling(true);
  backend.capBytes = Infinity;
});

function tinyModel(): { model: Model; x: tf.Tensor } {
  const { ir } = compileFile(join(ROOT, 'examples', 'tiny.mnx'), { inputSize: [16, 16, 16] });
  const model = buildModel(ir!);
  const x = tf.randomNormal([1, 16, 16, 16, 1], 0, 1, 'float32', 3);
  return { model, x };
}

/** Forward values, then loss and gradients of Σ r·y over every output (training mode). */
function run(model: Model, x: tf.Tensor): Float32Array[] {
  const ys = model.forward(x);
  const out = ys.map((y) => (y.dataSync() as Float32Array).slice());
  tf.dispose(ys);
  const vars = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => {
    const outs = model.forward(x, { training: true });
    return tf.addN(outs.map((y, i) => tf.sum(tf.mul(y, tf.randomUniform(y.shape, -1, 1, 'float32', 10 + i))))) as tf.Scalar;
  }, vars);
  out.push((value.dataSync() as Float32Array).slice(), ...vars.map((v) => (grads[v.name]!.dataSync() as Float32Array).slice()));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

describe('native output pool', () => {
  it('a dataSync’d array stays intact after its tensor is disposed and more ops run', () => {
    const a = tf.tensor([1, 2, 3, 4, 5, 6, 7, 8]);
    const b = tf.add(a, a); // a native kernel's output, from the pool
    const kept = b.dataSync();
    const copy = kept.slice();
    b.dispose();
    for (let i = 0; i < 5; i++) tf.dispose(tf.mul(a, 7 + i)); // same length: would reuse b's array
    expect(Array.from(kept)).toEqual(Array.from(copy));
    // data() too, and a contiguous slice (a view of its input's array) keeps its input's array out of the pool
    const c = tf.add(a, 1);
    const view = tf.slice(c, [0], [8]);
    c.dispose();
    tf.dispose(tf.mul(a, 5));
    expect(Array.from(view.dataSync())).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    view.dispose();
    a.dispose();
  });

  it('reuses arrays in a forward of examples/tiny.mnx, bit-identical with the pool off, forward and gradients, no leak', () => {
    const { model, x } = tinyModel();
    backend.setPooling(false);
    const off = run(model, x);
    backend.setPooling(true);
    run(model, x); // warm-up fills the pool
    const tensors = tf.memory().numTensors;
    const before = { ...backend.stats };
    const ys = model.forward(x);
    tf.dispose(ys);
    const allocated = backend.stats.allocated - before.allocated, reused = backend.stats.reused - before.reused;
    expect(reused).toBeGreaterThan(50);
    expect(allocated, `${allocated} new arrays, ${reused} reused`).toBeLessThan(reused / 10);
    const on = run(model, x);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(on.length).toBe(off.length);
    on.forEach((v, i) => expect(Buffer.from(v.buffer).equals(Buffer.from(off[i]!.buffer)), `output ${i}`).toBe(true));
    tf.dispose(x);
    model.dispose();
  });

  it('holds at most capBytes, dropping the least recently pooled', () => {
    backend.setPooling(false);
    backend.setPooling(true); // empty
    backend.capBytes = 3 * 4096;
    const a = tf.zeros([1024]);
    const outs = [1, 2, 3, 4, 5].map((k) => tf.add(a, k)); // five pooled-size arrays of 4096 bytes
    const evicted = backend.stats.evicted;
    tf.dispose(outs);
    expect(backend.pooledBytes).toBe(3 * 4096);
    expect(backend.stats.evicted - evicted).toBe(2);
    // the oldest went: a recycled array holds the last values pooled (5, 4, 3), newest first
    const r = backend.alloc(1024, { zeroed: false });
    expect(r[0]).toBe(5);
    expect(backend.alloc(1024, { zeroed: false })[0]).toBe(4);
    expect(backend.alloc(1024, { zeroed: true })[0]).toBe(0);
    expect(backend.pooledBytes).toBe(0);
    a.dispose();
  });

  it('allocates fresh arrays when pooling is off', () => {
    backend.setPooling(false);
    const a = tf.ones([64]);
    const before = { ...backend.stats };
    tf.dispose(tf.add(a, a));
    tf.dispose(tf.add(a, a));
    expect(backend.stats).toEqual(before);
    expect(backend.pooledBytes).toBe(0);
    a.dispose();
  });

  it('MNXC_NATIVE_POOL: unset or 1 on with the default cap, 0 off, a number the cap in MiB, anything else an error naming it', () => {
    const cap = defaultPoolCap();
    expect(cap).toBeGreaterThan(0);
    expect(cap).toBeLessThanOrEqual(8 * 2 ** 30);
    expect(poolSetting(undefined)).toEqual({ pooling: true, capBytes: cap });
    expect(poolSetting('1')).toEqual({ pooling: true, capBytes: cap });
    expect(poolSetting('0').pooling).toBe(false);
    expect(poolSetting('512')).toEqual({ pooling: true, capBytes: 512 * 2 ** 20 });
    expect(() => poolSetting('lots')).toThrow(/MNXC_NATIVE_POOL=lots: expected 0 \(off\), 1/);
    expect(new PooledCpuBackend({ pooling: true, capBytes: 10 }).capBytes).toBe(10);
  });
});
