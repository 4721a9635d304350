import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';

/**
 * Leaky ReLU with an explicit slope: PyTorch's `nn.LeakyReLU` default is 0.01 (nnU-Net uses
 * 1e-2), TF.js's `tf.leakyRelu` default is 0.2, so the slope is always passed.
 */
export function leakyRelu(x: tf.Tensor, slope: number): tf.Tensor {
  return tf.leakyRelu(x, slope);
}
