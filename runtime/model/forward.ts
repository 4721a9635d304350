import * as tf from '@tensorflow/tfjs-core';
import type { IRModel } from '../../ir/types.js';
import { verifyIR } from '../../ir/verify.js';
import type { MnxModel } from './model.js';
import { channelsFirstToLast, channelsLastToFirst } from '../weights/layout.js';

/**
 * Running a built network on host arrays, and taking an IR from parsed JSON: no files, so the
 * browser runtime (runtime/browser/) and Node (runtime/index.ts, which reads the files) share them.
 */

/** A host tensor in PyTorch's layout: [N, C, D, H, W] (or [N, C, H, W] for 2-D networks). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A parsed `model.ir.json`, verified; throws an Error naming `what` and listing the problems. */
export function verifiedIR(json: unknown, what: string): IRModel {
  const problems = verifyIR(json);
  if (problems.length > 0) throw new Error(`${what}: not a valid model IR:\n  ${problems.slice(0, 10).join('\n  ')}`);
  return json as IRModel;
}

/** Runs the network on an NC(D)HW input; returns every head, full resolution first, in NC(D)HW. */
export async function forward(model: MnxModel, input: HostTensor): Promise<HostTensor[]> {
  const last = channelsFirstToLast(input);
  const x = tf.tensor(last.data, last.shape, 'float32');
  try {
    const outs = model.forward(x);
    try {
      const result: HostTensor[] = [];
      for (const o of outs) result.push(channelsLastToFirst({ shape: o.shape, data: (await o.data()) as Float32Array }));
      return result;
    } finally {
      tf.dispose(outs);
    }
  } finally {
    x.dispose();
  }
}
