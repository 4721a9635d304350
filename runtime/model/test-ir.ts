/**
 * Hand-written IR for single MedNeXt blocks (as the official MedNeXtBlock / DownBlock /
 * UpBlock modules, parameter names as their state_dicts), so the builder is tested without
 * the compiler. Used only by tests.
 */
import type { IRModel, IRNode, IRParam } from '../../ir/types.js';

const span = { file: 'test', line: 1, col: 1, length: 1 };

class Builder {
  nodes: IRNode[] = [];
  params: IRParam[] = [];
  constructor(readonly block: string) {}
  node(id: string, op: IRNode['op'], inputs: string[], channels: number, attrs: IRNode['attrs'] = {}, params: Record<string, string> = {}): string {
    this.nodes.push({ id, op, inputs, attrs, params, out: { channels, spatial: null }, block: op === 'input' ? '' : this.block, stage: this.block, span, origin: [] });
    return id;
  }
  param(name: string, shape: number[], role: IRParam['role'], init: IRParam['init'], fanIn?: number): string {
    this.params.push({ name, shape, role, init, fanIn, trainable: role !== 'dummy' });
    return name;
  }
  conv(name: string, x: string, cin: number, cout: number, k: number, stride: number, pad: number, groups: number, transpose = false): string {
    const fan = (transpose ? cout / groups : cin / groups) * k ** 3;
    const shape = transpose ? [cin, cout / groups, k, k, k] : [cout, cin / groups, k, k, k];
    const weight = this.param(`${name}.weight`, shape, transpose ? 'conv_transpose_weight' : 'conv_weight', 'fan_in_uniform', fan);
    const bias = this.param(`${name}.bias`, [cout], 'bias', 'fan_in_uniform', fan);
    const attrs = { kernel: [k, k, k], stride: [stride, stride, stride], padding: [pad, pad, pad], groups, bias: true };
    return this.node(name, transpose ? 'conv_transpose' : 'conv', [x], cout, attrs, { weight, bias });
  }
  /** norm → conv2 → GELU → conv3 */
  tail(x: string, c: number, r: number, cout: number): string {
    const w = this.param('norm.weight', [c], 'norm_weight', 'ones');
    const b = this.param('norm.bias', [c], 'norm_bias', 'zeros');
    const n = this.node('norm', 'group_norm', [x], c, { groups: c, eps: 1e-5 }, { weight: w, bias: b });
    const h = this.node('act', 'gelu', [this.conv('conv2', n, c, r * c, 1, 1, 0, 1)], r * c);
    return this.conv('conv3', h, r * c, cout, 1, 1, 0, 1);
  }
  model(inChannels: number, out: string): IRModel {
    this.node('output', 'output', [out], this.nodes[this.nodes.length - 1]!.out.channels, { index: 0 });
    return {
      irVersion: 1,
      name: 'test',
      variant: null,
      spatialDims: 3,
      arguments: {},
      input: { channels: inChannels, spatial: null },
      nodes: this.nodes,
      outputs: ['output'],
      parameters: this.params,
      hints: { checkpointStyle: 'outside_block' },
    };
  }
}

export function blockIR(c: number, r: number, k: number): IRModel {
  const g = new Builder('block');
  const x = g.node('input', 'input', [], c);
  const x1 = g.conv('conv1', x, c, c, k, 1, k >> 1, c);
  return g.model(c, g.node('residual', 'add', [x, g.tail(x1, c, r, c)], c));
}

export function downIR(cin: number, cout: number, r: number, k: number): IRModel {
  const g = new Builder('down');
  const x = g.node('input', 'input', [], cin);
  const x1 = g.conv('conv1', x, cin, cin, k, 2, k >> 1, cin);
  const main = g.tail(x1, cin, r, cout);
  const res = g.conv('res_conv', x, cin, cout, 1, 2, 0, 1);
  return g.model(cin, g.node('sum', 'add', [main, res], cout));
}

export function upIR(cin: number, cout: number, r: number, k: number): IRModel {
  const g = new Builder('up');
  const x = g.node('input', 'input', [], cin);
  const x1 = g.conv('conv1', x, cin, cin, k, 2, k >> 1, cin, true);
  const main = g.node('pad', 'pad', [g.tail(x1, cin, r, cout)], cout, { before: [1, 1, 1], after: [0, 0, 0] });
  const res = g.node('res_pad', 'pad', [g.conv('res_conv', x, cin, cout, 1, 2, 0, 1, true)], cout, { before: [1, 1, 1], after: [0, 0, 0] });
  return g.model(cin, g.node('sum', 'add', [main, res], cout));
}
