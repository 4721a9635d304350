/**
 * Times a few MedNeXt building blocks on each TF.js backend available here.
 *
 *   npx tsx bench/ops.ts [--size 64] [--channels 32] [--reps 3] [--backends cpu,wasm,tensorflow]
 *
 * Input is one [1, size, size, size, channels] volume. Each cell is the median of `reps` runs
 * after one warm-up run, reading the result back (so asynchronous backends are timed in full).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers the gradients tf.grads needs
import { useBackend, type BackendName } from '../runtime/backend.js';

const { values: opts } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    channels: { type: 'string', default: '32' },
    reps: { type: 'string', default: '3' },
    backends: { type: 'string', default: 'cpu,wasm,tensorflow' },
  },
});
const S = Number(opts.size);
const C = Number(opts.channels);
const REPS = Number(opts.reps);

/**
 * Depthwise 3×3×3 convolution ('same', stride 1) from 2-D depthwise convolutions: the depth
 * slices become the batch, and the three kernel planes are applied to shifted slices and summed.
 */
function depthwise3d(x: tf.Tensor5D, w: tf.Tensor4D): tf.Tensor5D {
  const [, d, h, wd, c] = x.shape;
  const padded = tf.reshape(tf.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0], [0, 0]]), [d + 2, h, wd, c]) as tf.Tensor4D;
  let sum: tf.Tensor4D | null = null;
  for (let k = 0; k < 3; k++) {
    const plane = tf.reshape(tf.slice(w, [k, 0, 0, 0], [1, 3, 3, c]), [3, 3, c, 1]) as tf.Tensor4D;
    const y = tf.depthwiseConv2d(tf.slice(padded, [k, 0, 0, 0], [d, h, wd, c]), plane, 1, 'same');
    sum = sum ? tf.add<tf.Tensor4D>(sum, y) : y;
  }
  return tf.reshape(sum!, [1, d, h, wd, c]) as tf.Tensor5D;
}

interface Case {
  name: string;
  run: (x: tf.Tensor5D) => tf.Tensor;
}

function cases(): Case[] {
  const wPoint = tf.randomNormal([C, 2 * C]) as tf.Tensor2D;
  const wPoint3d = tf.reshape(wPoint, [1, 1, 1, C, 2 * C]) as tf.Tensor5D;
  const wDepth = tf.randomNormal([3, 3, 3, C]) as tf.Tensor4D;
  const flat = (x: tf.Tensor5D) => tf.reshape(x, [S * S * S, C]) as tf.Tensor2D;
  return [
    { name: `1×1×1 conv ${C}→${2 * C} as matMul`, run: (x) => tf.matMul(flat(x), wPoint) },
    {
      name: `1×1×1 conv as matMul, forward + gradients`,
      run: (x) => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D)))([flat(x), wPoint]);
        return tf.add(tf.sum(g[0]!), tf.sum(g[1]!));
      },
    },
    { name: `1×1×1 conv ${C}→${2 * C} as conv3d`, run: (x) => tf.conv3d(x, wPoint3d, 1, 'same') },
    { name: `depthwise 3³ via 3 depthwiseConv2d`, run: (x) => depthwise3d(x, wDepth) },
    {
      name: `depthwise 3³, forward + gradients`,
      run: (x) => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(depthwise3d(a as tf.Tensor5D, b as tf.Tensor4D)))([x, wDepth]);
        return tf.add(tf.sum(g[0]!), tf.sum(g[1]!));
      },
    },
  ];
}

async function time(c: Case, x: tf.Tensor5D): Promise<string> {
  try {
    const samples: number[] = [];
    for (let i = 0; i <= REPS; i++) {
      const start = performance.now();
      const y = tf.tidy(() => c.run(x));
      await y.data();
      y.dispose();
      if (i > 0) samples.push(performance.now() - start);
    }
    samples.sort((a, b) => a - b);
    return `${samples[Math.floor(samples.length / 2)]!.toFixed(0)} ms`;
  } catch (e) {
    return `n/a (${(e as Error).message.split('\n')[0]!.slice(0, 40)})`;
  }
}

const wanted = opts.backends.split(',') as BackendName[];
const columns: string[] = [];
const table = new Map<string, string[]>();
for (const name of wanted) {
  try {
    await useBackend(name);
  } catch (e) {
    console.error(`skipping ${name}: ${(e as Error).message}`);
    continue;
  }
  columns.push(name);
  const x = tf.randomNormal([1, S, S, S, C]) as tf.Tensor5D;
  for (const c of cases()) {
    const cell = await time(c, x);
    table.set(c.name, [...(table.get(c.name) ?? []), cell]);
    console.error(`${name}: ${c.name}: ${cell}`);
  }
  x.dispose();
}

const header = [`op at ${S}³×${C}`, ...columns];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const [op, cells] of table) console.log(`| ${op} | ${cells.join(' | ')} |`);
