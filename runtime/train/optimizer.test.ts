import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../backend.js';
import { clipByGlobalNorm, learningRate, Optimizer } from './optimizer.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const adamw = { name: 'adamw' as const, lr: 1e-3, weight_decay: 3e-5, eps: 1e-4, betas: [0.9, 0.999] as [number, number], momentum: 0.99, nesterov: true };

describe('AdamW (torch.optim.AdamW semantics)', () => {
  it('matches the update formula step by step, with decoupled weight decay', () => {
    const p0 = [0.5, -1.5, 2];
    const gradsPerStep = [[0.1, -0.2, 0.3], [-0.4, 0.05, 0.2], [0.3, 0.3, -0.1]];
    const lrs = [1e-2, 5e-3, 2e-3];
    const cfg = { ...adamw, weight_decay: 0.1 };
    const v = tf.variable(tf.tensor(p0));
    const opt = new Optimizer([v], ['w'], cfg);
    // reference in float64
    const p = [...p0], m = [0, 0, 0], s = [0, 0, 0];
    gradsPerStep.forEach((g, t) => {
      const step = t + 1, lr = lrs[t]!;
      for (let i = 0; i < 3; i++) {
        p[i] = p[i]! * (1 - lr * cfg.weight_decay);
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        s[i] = 0.999 * s[i]! + 0.001 * g[i]! ** 2;
        const mh = m[i]! / (1 - 0.9 ** step), vh = s[i]! / (1 - 0.999 ** step);
        p[i] = p[i]! - (lr * mh) / (Math.sqrt(vh) + cfg.eps);
      }
      const gt = tf.tensor(g);
      opt.apply([gt], lr);
      gt.dispose();
      const got = v.dataSync();
      for (let i = 0; i < 3; i++) expect(got[i]).toBeCloseTo(p[i]!, 6);
    });
    expect(opt.step).toBe(3);
    // state round-trips through tensors
    const state = opt.exportState();
    const v2 = tf.variable(tf.tensor(Array.from(v.dataSync())));
    const opt2 = new Optimizer([v2], ['w'], cfg);
    opt2.importState(state, 'state');
    const g = tf.tensor([0.2, 0.1, -0.3]);
    opt.apply([g], 1e-3);
    opt2.apply([g], 1e-3);
    expect(Array.from(v2.dataSync())).toEqual(Array.from(v.dataSync()));
    tf.dispose([g, v, v2]);
    opt.dispose();
    opt2.dispose();
  });

  it('SGD with Nesterov momentum and coupled weight decay (nnU-Net) follows torch.optim.SGD', () => {
    const cfg = { ...adamw, name: 'sgd' as const, weight_decay: 0.01 };
    const v = tf.variable(tf.tensor([1, -2]));
    const opt = new Optimizer([v], ['w'], cfg);
    let p = [1, -2], buf = [0, 0];
    for (const g of [[0.5, 0.1], [0.2, -0.3]]) {
      const d = g.map((gi, i) => gi + 0.01 * p[i]!);
      buf = buf.map((b, i) => 0.99 * b + d[i]!);
      p = p.map((pi, i) => pi - 0.1 * (d[i]! + 0.99 * buf[i]!));
      const gt = tf.tensor(g);
      opt.apply([gt], 0.1);
      gt.dispose();
    }
    const got = v.dataSync();
    expect(got[0]).toBeCloseTo(p[0]!, 6);
    expect(got[1]).toBeCloseTo(p[1]!, 6);
    v.dispose();
    opt.dispose();
  });

  it('leaves no tensors behind', () => {
    const v = tf.variable(tf.tensor([1, 2, 3]));
    const opt = new Optimizer([v], ['w'], adamw);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const g = tf.tensor([0.1, 0.2, 0.3]);
      opt.apply([g], 1e-3);
      g.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    v.dispose();
  });
});

describe('gradient clipping and the learning-rate schedule', () => {
  it('clips to global norm 12 over all gradients together, and leaves small gradients alone', () => {
    const big = [tf.tensor([30, 40]), tf.tensor([0, 0, 0])]; // norm 50
    const { grads, norm } = clipByGlobalNorm(big, 12);
    expect(norm.dataSync()[0]).toBeCloseTo(50, 5);
    const scale = 12 / (50 + 1e-6);
    expect(Array.from(grads[0]!.dataSync())).toEqual([Math.fround(30 * scale), Math.fround(40 * scale)].map((v) => expect.closeTo(v, 5)));
    const small = clipByGlobalNorm([tf.tensor([3, 4])], 12);
    expect(Array.from(small.grads[0]!.dataSync())).toEqual([3, 4]);
    tf.dispose([...big, ...grads, norm, ...small.grads, small.norm]);
  });

  it('a parameter without a gradient (a deep-supervision head of weight 0) is left alone, as PyTorch skips grad None', () => {
    const a = tf.variable(tf.tensor([1, 2]));
    const b = tf.variable(tf.tensor([3, 4]));
    const { grads, norm } = clipByGlobalNorm([tf.tensor([30, 40]), null], 12);
    expect(grads[1]).toBeNull();
    expect(norm.dataSync()[0]).toBeCloseTo(50, 5);
    for (const name of ['adamw', 'sgd'] as const) {
      const opt = new Optimizer([a, b], ['a', 'b'], { name, lr: 1e-2, weight_decay: 0.1, eps: 1e-8, betas: [0.9, 0.999], momentum: 0.9, nesterov: true });
      opt.apply(grads, 1e-2);
      expect(Array.from(b.dataSync())).toEqual([3, 4]);
      expect(Array.from(a.dataSync())).not.toEqual([1, 2]);
      opt.dispose();
    }
    tf.dispose([a, b, norm, grads[0]!]);
  });

  it('poly: lr0·(1 − epoch/epochs)^0.9, set per epoch', () => {
    const poly = { name: 'poly' as const, exponent: 0.9 };
    expect(learningRate(poly, 1e-3, 0, 1000)).toBe(1e-3);
    expect(learningRate(poly, 1e-3, 500, 1000)).toBeCloseTo(1e-3 * 0.5 ** 0.9, 15);
    expect(learningRate(poly, 1e-3, 999, 1000)).toBeCloseTo(1e-3 * 0.001 ** 0.9, 15);
    expect(learningRate({ name: 'constant', exponent: 0.9 }, 1e-3, 999, 1000)).toBe(1e-3);
  });
});
