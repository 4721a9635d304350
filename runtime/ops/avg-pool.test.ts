import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName } from '../backend.js';
import { loadNativeBackend } from '../backends/native.js';
import { loadTensorflowBinding } from '../backends/tensorflow.js';
import { avgPool } from './avg-pool.js';

/** Every backend: the npm ones always, native and tensorflow where `mnxc setup` built them. */
const BACKENDS: BackendName[] = ['cpu', 'wasm', ...((await loadNativeBackend()) === null ? ['native' as const] : []), ...((await loadTensorflowBinding()) === null ? ['tensorflow' as const] : [])];

/** PyTorch's AvgPool3d(kernel_size=s, stride=s) on an NDHWC array, in float64: floor sizes, plain window means. */
function reference(x: Float32Array, shape: number[], s: number[]): { data: Float64Array; shape: number[] } {
  const [n, d, h, w, c] = shape as [number, number, number, number, number];
  const [od, oh, ow] = [Math.floor(d / s[0]!), Math.floor(h / s[1]!), Math.floor(w / s[2]!)];
  const out = new Float64Array(n * od * oh * ow * c);
  const count = s[0]! * s[1]! * s[2]!;
  for (let b = 0; b < n; b++)
    for (let i = 0; i < od; i++)
      for (let j = 0; j < oh; j++)
        for (let k = 0; k < ow; k++)
          for (let ch = 0; ch < c; ch++) {
            let acc = 0;
            for (let a = 0; a < s[0]!; a++)
              for (let bb = 0; bb < s[1]!; bb++)
                for (let cc = 0; cc < s[2]!; cc++) acc += x[((((b * d + i * s[0]! + a) * h + j * s[1]! + bb) * w + k * s[2]! + cc) * c) + ch]!;
            out[(((b * od + i) * oh + j) * ow + k) * c + ch] = acc / count;
          }
  return { data: out, shape: [n, od, oh, ow, c] };
}

function values(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed + i * 0.37) * 2;
  return out;
}

describe.each(BACKENDS)('avgPool (window = stride, valid) on %s', (backend) => {
  afterAll(async () => {
    await useBackend('cpu');
  });

  it.each([
    { shape: [1, 4, 6, 8, 3], s: [2, 2, 2] },
    { shape: [2, 4, 6, 6, 2], s: [1, 2, 2] },
    { shape: [1, 1, 8, 6, 4], s: [1, 2, 2] }, // a 2-D network's tensor (depth 1)
    { shape: [1, 5, 7, 6, 2], s: [2, 2, 3] }, // odd sizes: the remainder is dropped, as PyTorch's floor
  ])('$shape stride $s: window means, floor sizes, and the gradient spreads dy/|window|', async ({ shape, s }) => {
    await useBackend(backend);
    const x = values(shape, 3);
    const ref = reference(x, shape, s);
    const y = tf.tidy(() => avgPool(tf.tensor(x, shape), s));
    expect(y.shape).toEqual(ref.shape);
    const got = y.dataSync();
    let err = 0;
    for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - ref.data[i]!));
    expect(err).toBeLessThan(1e-6);
    y.dispose();
    // d/dx sum(avgPool(x) · w): each input voxel inside a window gets w / |window|, outside 0.
    const count = s[0]! * s[1]! * s[2]!;
    const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(avgPool(t, s), 3)))(tf.tensor(x, shape)));
    const gd = g.dataSync();
    const [, d, h, w, c] = shape as [number, number, number, number, number];
    for (let i = 0; i < gd.length; i++) {
      const ch = Math.floor(i / c);
      const [z, r, q] = [Math.floor(ch / (h * w)) % d, Math.floor(ch / w) % h, ch % w];
      const inside = z < ref.shape[1]! * s[0]! && r < ref.shape[2]! * s[1]! && q < ref.shape[3]! * s[2]!;
      expect(gd[i]).toBeCloseTo(inside ? 3 / count : 0, 6);
    }
    g.dispose();
  });
});
