import type { GraphBuilder, TensorRef } from '../graph.js';
import { T, type Value } from '../types.js';
import { checkKernel, emitAdd, emitConv, emitConvTranspose, emitNorm, nd } from './primitives.js';
import { registerBlock, type ArgSpec } from './registry.js';

/**
 * The MedNeXt v1 blocks (official `nnunet_mednext/network_architecture/mednextv1/blocks.py`),
 * with the official module names so parameters are the official state_dict keys:
 *   block: conv1 (depthwise k) → norm → conv2 (1×1, C → R·C) → GELU → [GRN] → conv3 (1×1, R·C → out) → + x
 *   down:  the same with conv1 at stride 2, no inner residual, + res_conv (1×1, stride 2)
 *   up:    conv1 a depthwise transposed conv (stride 2), then one zero plane at the start of
 *          each axis; res_conv a 1×1 transposed conv (stride 2), padded the same
 *   out:   conv_out, a 1×1 transposed conv to the classes
 */

const GROUP_NORM_EPS = 1e-5;
/** MedNeXt's channels_first LayerNorm default epsilon (blocks.py `LayerNorm(eps=1e-5)`). */
const LAYER_NORM_EPS = 1e-5;
const GRN_EPS = 1e-6;

const common: ArgSpec[] = [
  { name: 'k', type: T.kernel, default: 7, doc: 'depthwise kernel size (odd)' },
  { name: 'exp_r', type: T.posint, default: 4, doc: 'expansion ratio R of the inverted bottleneck' },
  { name: 'norm', type: T.oneOf('group', 'layer'), default: 'group', doc: "'group' (one group per channel) or 'layer'" },
  { name: 'grn', type: T.bool, default: false, doc: 'global response normalisation after the GELU' },
];

type Mode = 'same' | 'down' | 'up';

function body(g: GraphBuilder, scope: string, x: TensorRef, out: number, a: Record<string, Value>, mode: Mode): TensorRef | null {
  const k = a.k as number;
  const r = a.exp_r as number;
  if (!checkKernel(g, k)) return null;
  const c = x.shape.channels;
  let y =
    mode === 'up'
      ? emitConvTranspose(g, scope, 'conv1', x, { out: c, k, stride: 2, padding: Math.floor(k / 2), groups: c })
      : emitConv(g, scope, 'conv1', x, { out: c, k, stride: mode === 'down' ? 2 : 1, padding: Math.floor(k / 2), groups: c });
  y = emitNorm(g, scope, 'norm', y, a.norm as string, a.norm === 'layer' ? LAYER_NORM_EPS : GROUP_NORM_EPS);
  y = emitConv(g, scope, 'conv2', y, { out: r * c, k: 1, padding: 0 });
  y = g.node('gelu', scope, 'act', [y], {}, y.shape);
  if (a.grn) {
    const shape = [1, r * c, ...nd(g, 1)];
    y = g.node('grn', scope, 'grn', [y], { eps: GRN_EPS }, y.shape, [
      { key: 'beta', suffix: 'grn_beta', shape, role: 'grn_beta', init: 'zeros' },
      { key: 'gamma', suffix: 'grn_gamma', shape, role: 'grn_gamma', init: 'zeros' },
    ]);
  }
  return emitConv(g, scope, 'conv3', y, { out, k: 1, padding: 0 });
}

function padFront(g: GraphBuilder, scope: string, name: string, x: TensorRef): TensorRef {
  const spatial = x.shape.spatial?.map((n) => n + 1) ?? null;
  return g.node('pad', scope, name, [x], { before: nd(g, 1), after: nd(g, 0) }, { channels: x.shape.channels, spatial });
}

registerBlock({
  name: 'mednext_block',
  doc: 'MedNeXt block (MedNeXtBlock): depthwise conv, norm, 1×1 expansion, GELU, 1×1 compression, residual.',
  inputs: 1,
  args: [
    ...common,
    { name: 'out', type: T.posint, default: (xs) => xs[0]!.shape.channels, doc: 'output channels (default: input channels)' },
    { name: 'do_res', type: T.bool, default: true, doc: 'add the input (needs out == input channels)' },
  ],
  expand(g, scope, [x], a) {
    const y = body(g, scope, x!, a.out as number, a, 'same');
    if (!y) return null;
    if (!a.do_res) return y;
    if (y.shape.channels !== x!.shape.channels) {
      g.error('BadChannels', [`mednext_block with do_res needs out (${y.shape.channels}) equal to its input channels (${x!.shape.channels})`]);
      return y;
    }
    return emitAdd(g, scope, 'residual', x!, y);
  },
});

registerBlock({
  name: 'mednext_down',
  doc: 'MedNeXt down-sampling block (MedNeXtDownBlock): stride-2 depthwise conv, plus a 1×1 stride-2 residual path when do_res.',
  inputs: 1,
  args: [...common, { name: 'out', type: T.posint, doc: 'output channels' }, { name: 'do_res', type: T.bool, default: false, doc: 'residual 1×1 strided path (do_res_up_down)' }],
  expand(g, scope, [x], a) {
    const y = body(g, scope, x!, a.out as number, a, 'down');
    if (!y || !a.do_res) return y;
    const res = emitConv(g, scope, 'res_conv', x!, { out: a.out as number, k: 1, stride: 2, padding: 0 });
    return emitAdd(g, scope, 'residual', y, res);
  },
});

registerBlock({
  name: 'mednext_up',
  doc: 'MedNeXt up-sampling block (MedNeXtUpBlock): stride-2 depthwise transposed conv, front zero plane, plus a 1×1 transposed residual path when do_res.',
  inputs: 1,
  args: [...common, { name: 'out', type: T.posint, doc: 'output channels' }, { name: 'do_res', type: T.bool, default: false, doc: 'residual 1×1 transposed path (do_res_up_down)' }],
  expand(g, scope, [x], a) {
    const y0 = body(g, scope, x!, a.out as number, a, 'up');
    if (!y0) return null;
    const y = padFront(g, scope, 'pad', y0);
    if (!a.do_res) return y;
    const res = emitConvTranspose(g, scope, 'res_conv', x!, { out: a.out as number, k: 1, stride: 2, padding: 0 });
    return emitAdd(g, scope, 'residual', y, padFront(g, scope, 'res_pad', res));
  },
});

registerBlock({
  name: 'mednext_out',
  doc: 'MedNeXt output head (OutBlock): a 1×1 transposed conv `conv_out` to the class channels.',
  inputs: 1,
  args: [{ name: 'classes', type: T.posint, doc: 'number of classes' }],
  expand: (g, scope, [x], a) => emitConvTranspose(g, scope, 'conv_out', x!, { out: a.classes as number, k: 1, stride: 1, padding: 0 }),
});
