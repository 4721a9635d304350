import { T } from '../types.js';
import { emitConv, emitNorm, INIT_ARGS, initOf, type PerAxis } from './primitives.js';
import { registerBlock } from './registry.js';

/**
 * nnU-Net's building block (dynamic_network_architectures `ConvDropoutNormReLU`):
 * conv (padding (k-1)//2 per axis) → InstanceNorm (affine, eps 1e-5) → LeakyReLU (slope 0.01),
 * with the official module names `conv` and `norm`. Dropout is not supported (nnU-Net's plans
 * never set it); the norm goes before the nonlinearity (`nonlin_first=False`). `nonlin: false` is
 * the block built with `nonlin=None` (a residual block's `conv2` and its skip projection).
 * `init: "he"` and `norm_init` give nnU-Net's initialisation (`InitWeights_He`,
 * `init_last_bn_before_add_to_0`) to a new model; they change no computed function.
 */
registerBlock({
  name: 'conv_norm_act',
  doc: "nnU-Net's ConvDropoutNormReLU (no dropout): conv → instance norm → leaky ReLU; parameters `conv.*`, `norm.*`.",
  inputs: 1,
  args: [
    { name: 'out', type: T.posint, doc: 'output channels' },
    { name: 'k', type: T.union(T.kernel, T.list(T.kernel)), default: 3, doc: 'kernel size, or one per axis (odd)' },
    { name: 'stride', type: T.union(T.posint, T.list(T.posint)), default: 1, doc: 'stride, or one per axis' },
    { name: 'bias', type: T.bool, default: true, doc: 'conv bias (conv_bias)' },
    { name: 'norm', type: T.oneOf('instance', 'group', 'layer'), default: 'instance', doc: 'normalisation' },
    { name: 'eps', type: T.float, default: 1e-5, doc: 'norm epsilon' },
    { name: 'slope', type: T.float, default: 0.01, doc: 'leaky ReLU negative slope (PyTorch default 0.01)' },
    { name: 'nonlin', type: T.bool, default: true, doc: 'apply the leaky ReLU (false: nonlin=None, conv → norm only)' },
    ...INIT_ARGS,
    { name: 'norm_init', type: T.oneOf('ones', 'zeros'), default: 'ones', doc: "initial norm scale of a new model ('zeros': init_last_bn_before_add_to_0)" },
  ],
  expand(g, scope, [x], a) {
    let y = emitConv(g, scope, 'conv', x!, { out: a.out as number, k: a.k as PerAxis, stride: a.stride as PerAxis, bias: a.bias as boolean, ...initOf(a) });
    y = emitNorm(g, scope, 'norm', y, a.norm as string, a.eps as number, a.norm_init as 'ones' | 'zeros');
    if (a.nonlin === false) return y;
    return g.node('leaky_relu', scope, 'nonlin', [y], { slope: a.slope as number }, y.shape);
  },
});
