import { describe, expect, it } from 'vitest';
import { channelsFirstToLast, channelsLastToFirst, permute, runtimeShape, toPytorch, toRuntime, type ParamLayout } from './layout.js';

const seq = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

describe('layout conversion', () => {
  it('permutes axes in C order', () => {
    // [[0,1,2],[3,4,5]] transposed
    expect(Array.from(permute(seq(6), [2, 3], [1, 0]).data)).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('puts channels last and back', () => {
    const t = { shape: [2, 3, 2, 2, 2], data: seq(48) };
    const last = channelsFirstToLast(t);
    expect(last.shape).toEqual([2, 2, 2, 2, 3]);
    // N=0, D=H=W=0: the three channels are 0, 8, 16 in NCDHW.
    expect(Array.from(last.data.slice(0, 3))).toEqual([0, 8, 16]);
    expect(Array.from(channelsLastToFirst(last).data)).toEqual(Array.from(t.data));
  });

  it.each<[string, ParamLayout, number[], number[]]>([
    ['dense conv', { kind: 'conv', depthwise: false, spatialDims: 3 }, [5, 3, 3, 2, 1], [3, 2, 1, 3, 5]],
    ['depthwise conv', { kind: 'conv', depthwise: true, spatialDims: 3 }, [4, 1, 3, 3, 3], [3, 3, 3, 4, 1]],
    ['dense transposed conv', { kind: 'conv_transpose', depthwise: false, spatialDims: 3 }, [6, 2, 1, 1, 1], [1, 1, 1, 2, 6]],
    ['2-D dense conv', { kind: 'conv', depthwise: false, spatialDims: 2 }, [5, 3, 3, 2], [1, 3, 2, 3, 5]],
    ['2-D depthwise transposed conv', { kind: 'conv_transpose', depthwise: true, spatialDims: 2 }, [4, 1, 3, 3], [1, 3, 3, 4, 1]],
    ['GRN', { kind: 'grn' }, [1, 6, 1, 1, 1], [6]],
  ])('%s: PyTorch %j ⇄ runtime %j round-trips exactly', (_, layout, pt, rt) => {
    const n = pt.reduce((a, b) => a * b, 1);
    const r = toRuntime(layout, { shape: pt, data: seq(n) });
    expect(r.shape).toEqual(rt);
    expect(runtimeShape(layout, pt)).toEqual(rt);
    const back = toPytorch(layout, r, pt);
    expect(back.shape).toEqual(pt);
    expect(Array.from(back.data)).toEqual(Array.from(seq(n)));
  });

  it('maps PyTorch conv weight [out, in, kd, kh, kw] to runtime [kd, kh, kw, in, out] element by element', () => {
    // weight[o=1][i=0][d=0][h=1][w=0] in PyTorch layout [2, 1, 1, 2, 1] has flat index 1·2 + 1 = 3.
    const r = toRuntime({ kind: 'conv', depthwise: false, spatialDims: 3 }, { shape: [2, 1, 1, 2, 1], data: seq(4) });
    // runtime [1, 2, 1, 1, 2]: [d=0][h=1][w=0][i=0][o=1] = flat 1·2 + 1 = 3.
    expect(r.data[3]).toBe(3);
    expect(Array.from(r.data)).toEqual([0, 2, 1, 3]);
  });
});
