import { describe, expect, it } from 'vitest';
import type { IRNode, IRParam } from '../../ir/types.js';
import { computeWeightMap, formatWeightMap, type ParamSource } from './upkern.js';

const conv = (name: string, shape: number[]): IRParam => ({ name, shape, role: 'conv_weight', init: 'kaiming_uniform', fanIn: 8, trainable: true });
const bias = (name: string, n: number): IRParam => ({ name, shape: [n], role: 'bias', init: 'fan_in_uniform', fanIn: 8, trainable: true });

/** A node owning `params`, written at `file:line`, expanded from a block used at line 2. */
const node = (id: string, file: string, line: number, params: Record<string, string>): IRNode => ({
  id,
  op: 'conv',
  inputs: [],
  attrs: {},
  params,
  out: { channels: 4, spatial: null },
  block: id,
  stage: id,
  span: { file, line, col: 5, length: 3 },
  origin: [{ what: "block 'mednext_block' used", span: { file, line: 2, col: 1, length: 4 } }],
});

function net(file: string, k: number, channels = 4, extra: IRParam[] = []): ParamSource {
  return {
    parameters: [conv('a.conv1.weight', [channels, 1, k, k, k]), bias('a.conv1.bias', channels), conv('a.conv2.weight', [8, channels, 1, 1, 1]), ...extra],
    nodes: [
      node('a.conv1', file, 10, { weight: 'a.conv1.weight', bias: 'a.conv1.bias' }),
      node('a.conv2', file, 11, { weight: 'a.conv2.weight' }),
    ],
  };
}

describe('UpKern weight map', () => {
  it('copies equal shapes, resamples kernels, marks target-only fresh and source-only dropped', () => {
    const map = computeWeightMap(net('k3.mnx', 3, 4, [bias('only.src', 2)]), net('k5.mnx', 5, 4, [conv('only.dst', [2, 2, 3, 3, 3])]));
    expect(map.errors).toEqual([]);
    expect(map.warnings).toEqual([]);
    expect(map.entries).toEqual([
      { name: 'a.conv1.weight', action: 'resample', from: [4, 1, 3, 3, 3], to: [4, 1, 5, 5, 5] },
      { name: 'a.conv1.bias', action: 'copy', from: [4], to: [4] },
      { name: 'a.conv2.weight', action: 'copy', from: [8, 4, 1, 1, 1], to: [8, 4, 1, 1, 1] },
      { name: 'only.dst', action: 'fresh', from: null, to: [2, 2, 3, 3, 3] },
      { name: 'only.src', action: 'dropped', from: [2], to: null },
    ]);
    expect(formatWeightMap(map)).toBe(
      [
        'name            action    source shape → target shape',
        'a.conv1.weight  resample  [4, 1, 3, 3, 3] → [4, 1, 5, 5, 5]',
        'a.conv1.bias    copy      [4] → [4]',
        'a.conv2.weight  copy      [8, 4, 1, 1, 1] → [8, 4, 1, 1, 1]',
        'only.dst        fresh     — → [2, 2, 3, 3, 3]',
        'only.src        dropped   [2] → —',
        '',
        '2 copy, 1 resample, 1 fresh, 1 dropped',
      ].join('\n'),
    );
  });

  it('names the tensor, both shapes and both spec lines when channels differ', () => {
    const map = computeWeightMap(net('k3.mnx', 3, 4), net('wide.mnx', 5, 8));
    expect(map.errors).toContain(
      "'a.conv1.weight': source [4, 1, 3, 3, 3] (k3.mnx:10:5, block 'mednext_block' used at k3.mnx:2) and target [8, 1, 5, 5, 5] (wide.mnx:10:5, block 'mednext_block' used at wide.mnx:2) differ in channels (dims 0 and 1); only kernel sizes may change",
    );
    expect(map.errors.some((e) => e.startsWith("'a.conv1.bias': source [4] (k3.mnx:10:5"))).toBe(true);
    expect(map.errors.some((e) => e.startsWith("'a.conv2.weight'"))).toBe(true);
  });

  it('reports a rank change, and says when no source line is known', () => {
    const src: ParamSource = { parameters: [conv('w', [4, 1, 3, 3, 3])] };
    const dst: ParamSource = { parameters: [conv('w', [4, 1, 3, 3])] };
    expect(computeWeightMap(src, dst).errors).toEqual([
      "'w': source [4, 1, 3, 3, 3] (no source line known) and target [4, 1, 3, 3] (no source line known) differ in rank",
    ]);
  });

  it('shrinks kernels only when allowed, and then warns', () => {
    const refused = computeWeightMap(net('k5.mnx', 5), net('k3.mnx', 3));
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors[0]).toMatch(/^'a\.conv1\.weight': kernel shrinks from 5×5×5 to 3×3×3 \(source \[4, 1, 5, 5, 5\] \(k5\.mnx:10:5.*allow shrinking explicitly/);
    const allowed = computeWeightMap(net('k5.mnx', 5), net('k3.mnx', 3), { allowShrink: true });
    expect(allowed.errors).toEqual([]);
    expect(allowed.warnings).toEqual(["'a.conv1.weight': kernel shrinks from 5×5×5 to 3×3×3: resampled down, which discards detail the source kernel learnt"]);
    expect(allowed.entries[0]!.action).toBe('resample');
  });

  it('treats a kernel that grows on one axis and shrinks on another as shrinking', () => {
    const src: ParamSource = { parameters: [conv('w', [4, 1, 3, 5])] };
    const dst: ParamSource = { parameters: [conv('w', [4, 1, 5, 3])] };
    expect(computeWeightMap(src, dst).errors[0]).toMatch(/kernel shrinks from 3×5 to 5×3/);
  });
});
