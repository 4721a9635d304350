import * as tf from '@tensorflow/tfjs-core';

/**
 * Operations of general tensors (token sequences, per-head tensors, window stacks). A general
 * tensor is held as `[N, ...dims]` in PyTorch order (no layout change); a feature map is
 * channels-last `[N, D, H, W, C]` (2-D maps with D = 1). Axes given here are per-sample axes
 * (0 = the first axis after the batch), as in the IR. Only TF.js core ops: every backend that
 * has their kernels (cpu, wasm, native, tensorflow) runs them.
 */

const batch = (x: tf.Tensor) => x.shape[0]!;

/** A feature map (channels-last) as the general tensor [N, ...dims] (dims = [*spatial, C] or [tokens, C]). */
export function channelsLast(x: tf.Tensor, dims: readonly number[]): tf.Tensor {
  return tf.reshape(x, [batch(x), ...dims]);
}

/** A general tensor [N, *spatial, C] (or [N, tokens, C]) as a channels-last feature map of `spatial`. */
export function featureMap(x: tf.Tensor, spatial: readonly number[], channels: number): tf.Tensor {
  const s = spatial.length === 2 ? [1, ...spatial] : spatial;
  return tf.reshape(x, [batch(x), ...s, channels]);
}

export function reshape(x: tf.Tensor, dims: readonly number[]): tf.Tensor {
  return tf.reshape(x, [batch(x), ...dims]);
}

export function permute(x: tf.Tensor, axes: readonly number[]): tf.Tensor {
  return tf.transpose(x, [0, ...axes.map((a) => a + 1)]);
}

export function slice(x: tf.Tensor, axis: number, start: number, end: number, step: number): tf.Tensor {
  const ax = axis + 1;
  if (step === 1) {
    const begin = x.shape.map((_, i) => (i === ax ? start : 0));
    const size = x.shape.map((n, i) => (i === ax ? end - start : n!));
    return tf.slice(x, begin, size);
  }
  const begin = x.shape.map((_, i) => (i === ax ? start : 0));
  const stop = x.shape.map((n, i) => (i === ax ? end : n!));
  const strides = x.shape.map((_, i) => (i === ax ? step : 1));
  return tf.stridedSlice(x, begin, stop, strides);
}

/** Concatenation along a per-sample axis. */
export function concatAxis(xs: tf.Tensor[], axis: number): tf.Tensor {
  return tf.concat(xs, axis + 1);
}

/** torch.roll: element i moves to (i + shift) mod n along each axis. */
export function roll(x: tf.Tensor, shifts: readonly number[], axes: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    let y = x;
    axes.forEach((a, i) => {
      const ax = a + 1;
      const n = y.shape[ax]!;
      const s = (((shifts[i] ?? 0) % n) + n) % n;
      if (s === 0) return;
      const head = slice(y, a, n - s, n, 1);
      const tail = slice(y, a, 0, n - s, 1);
      y = tf.concat([head, tail], ax);
    });
    return y === x ? tf.clone(x) : y;
  });
}

/** nn.Linear over the last axis: x·Wᵀ + b with W [out, in] (PyTorch layout, kept in the runtime). */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const cin = x.shape[x.rank - 1]!;
    const out = w.shape[0]!;
    const x2 = tf.reshape(x, [-1, cin]) as tf.Tensor2D;
    let y: tf.Tensor = tf.matMul(x2, w as tf.Tensor2D, false, true);
    if (b) y = tf.add(y, b);
    return tf.reshape(y, [...x.shape.slice(0, -1), out]);
  });
}

/** Inserts axes of size 1 after the batch axis so that both tensors have the same rank. */
function alignRanks(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const lift = (t: tf.Tensor, r: number) => (t.rank === r ? t : tf.reshape(t, [t.shape[0]!, ...new Array<number>(r - t.rank).fill(1), ...t.shape.slice(1)]));
  const r = Math.max(a.rank, b.rank);
  return [lift(a, r), lift(b, r)];
}

/** Batched matrix product of the last two axes; leading axes (batch included) broadcast. */
export function matmul(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor {
  return tf.tidy(() => {
    const [x, y] = alignRanks(a, b);
    const r = x.rank;
    const lead = x.shape.slice(0, r - 2).map((n, i) => Math.max(n!, y.shape[i]!));
    const xs = tf.broadcastTo(x, [...lead, ...x.shape.slice(r - 2)] as number[]);
    const ys = tf.broadcastTo(y, [...lead, ...y.shape.slice(r - 2)] as number[]);
    const [n, k] = xs.shape.slice(r - 2) as [number, number];
    const [p, q] = ys.shape.slice(r - 2) as [number, number];
    const z = tf.matMul(tf.reshape(xs, [-1, n, k]) as tf.Tensor3D, tf.reshape(ys, [-1, p, q]) as tf.Tensor3D, false, transposeB);
    return tf.reshape(z, [...lead, n, transposeB ? p : q]);
  });
}

/** Softmax over a per-sample axis. */
export function softmax(x: tf.Tensor, axis: number): tf.Tensor {
  const ax = axis + 1;
  if (ax === x.rank - 1) return tf.softmax(x);
  return tf.tidy(() => {
    const perm = x.shape.map((_, i) => (i === ax ? x.rank - 1 : i === x.rank - 1 ? ax : i));
    return tf.transpose(tf.softmax(tf.transpose(x, perm)), perm);
  });
}

/** Broadcasting element-wise op (numpy rules on the per-sample shapes; the batch axis stays first). */
export function binary(a: tf.Tensor, b: tf.Tensor, fn: string): tf.Tensor {
  return tf.tidy(() => {
    const [x, y] = alignRanks(a, b);
    switch (fn) {
      case 'add':
        return tf.add(x, y);
      case 'sub':
        return tf.sub(x, y);
      case 'mul':
        return tf.mul(x, y);
      case 'div':
        return tf.div(x, y);
    }
    throw new Error(`binary: unknown function '${fn}'`);
  });
}

export function scale(x: tf.Tensor, factor: number): tf.Tensor {
  return tf.mul(x, factor);
}

/** A free parameter (state_dict shape) as a batch-1 tensor [1, ...dims]. */
export function parameter(value: tf.Tensor, dims: readonly number[]): tf.Tensor {
  return tf.reshape(value, [1, ...dims]);
}

/** Rows of a batch-1 table [1, T, ...] picked by an integer index tensor [1, ...I]: [1, ...I, ...]. */
export function gather(table: tf.Tensor, index: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const t = tf.squeeze(table, [0]);
    // The index is a constant (a buffer) of exact small integers held as floats: cast on the
    // device, not read back to the host (a synchronous read stalls a GPU backend, and Chromium's
    // WebGPU loses its device over it).
    const flat = tf.reshape(tf.cast(index, 'int32'), [-1]);
    const rows = tf.gather(t, flat, 0);
    return tf.reshape(rows, [...index.shape, ...t.shape.slice(1)]);
  });
}

/** Mean over a per-sample axis. */
export function mean(x: tf.Tensor, axis: number, keepDims: boolean): tf.Tensor {
  return tf.mean(x, axis + 1, keepDims);
}

/** Zero padding of a general tensor, per per-sample axis. */
export function padAxes(x: tf.Tensor, before: readonly number[], after: readonly number[]): tf.Tensor {
  return tf.pad(x, [[0, 0], ...before.map((b, i) => [b, after[i]!] as [number, number])]);
}

/** BatchNorm in eval mode over the last axis (a feature map's channels): the running statistics, not the batch's. */
export function batchNorm(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    return y;
  });
}

/**
 * Weight standardisation (StdConv2d): per output channel, (w − mean) / sqrt(var + eps) over the
 * other axes, biased variance. `out` says where the output-channel axis is: 'last' for the
 * runtime's dense filters [k…, Cin, Cout], 'first' for PyTorch-layout ones [Cout, Cin, k…].
 */
export function standardizeFilter(w: tf.Tensor, eps: number, out: 'first' | 'last'): tf.Tensor {
  return tf.tidy(() => {
    const axes = out === 'last' ? w.shape.slice(0, -1).map((_, i) => i) : w.shape.slice(1).map((_, i) => i + 1);
    const { mean, variance } = tf.moments(w, axes, true);
    return tf.div(tf.sub(w, mean), tf.sqrt(tf.add(variance, eps)));
  });
}

/**
 * Max pooling of a channels-last map [N, D, H, W, C] (2-D maps with D = 1): the maximum of the
 * k_D·k_H·k_W strided views of the −∞-padded input (only slices and maxima: every backend).
 */
export function maxPool(x: tf.Tensor, kernel: readonly number[], stride: readonly number[], padding: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    const xp = padding.some((p) => p > 0) ? tf.pad(x, [[0, 0], ...padding.map((p) => [p, p] as [number, number]), [0, 0]], -Infinity) : x;
    const size = xp.shape.slice(1, 4) as number[];
    const out = size.map((n, i) => Math.floor((n - kernel[i]!) / stride[i]!) + 1);
    let y: tf.Tensor | null = null;
    for (let a = 0; a < kernel[0]!; a++) {
      for (let b = 0; b < kernel[1]!; b++) {
        for (let c = 0; c < kernel[2]!; c++) {
          const begin = [0, a, b, c, 0];
          const end = [xp.shape[0]!, a + (out[0]! - 1) * stride[0]! + 1, b + (out[1]! - 1) * stride[1]! + 1, c + (out[2]! - 1) * stride[2]! + 1, xp.shape[4]!];
          const v = tf.stridedSlice(xp, begin, end, [1, stride[0]!, stride[1]!, stride[2]!, 1]);
          y = y ? tf.maximum(y, v) : v;
        }
      }
    }
    return y!;
  });
}

/** Bilinear ×scale resize of a 2-D channels-last map [N, 1, H, W, C] (nn.UpsamplingBilinear2d: align_corners true). */
export function upsampleBilinear(x: tf.Tensor, scale: number, alignCorners: boolean): tf.Tensor {
  return tf.tidy(() => {
    const [n, d, h, w, c] = x.shape as number[];
    if (d !== 1) throw new Error(`upsampleBilinear: a 2-D map (depth 1) is needed, got depth ${d}`);
    const y = tf.image.resizeBilinear(tf.reshape(x, [n!, h!, w!, c!]) as tf.Tensor4D, [h! * scale, w! * scale], alignCorners);
    return tf.reshape(y, [n!, 1, h! * scale, w! * scale, c!]);
  });
}
