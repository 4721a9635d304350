import { describe, expect, it } from 'vitest';
import { mnxcInProcess } from '../tests/cli.js';

/** `mnxc compare`: the paper's table of parameters, FLOPs and activation memory, one row per network. */
describe('mnxc compare', () => {
  it('MedNeXt and the six baselines side by side at 96³ (paper configurations give the official counts)', async () => {
    const specs = [
      'examples/paper/mednext_S_k3.mnx',
      'examples/mednext.mnx@B',
      'examples/baselines/paper/unetr_96.mnx',
      'examples/baselines/paper/swin_unetr_48.mnx',
      'examples/baselines/paper/uxnet.mnx',
      'examples/baselines/paper/transbts.mnx',
      'examples/baselines/nnformer.mnx',
      'examples/baselines/transunet.mnx',
    ];
    const r = await mnxcInProcess('compare', ...specs, '--input-size', '96,96,96', '--json');
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as { spec: string; model: string; params: number; flops: number; macs: number; activationBytes: number; inputSize: number[] }[];
    expect(rows.map((x) => x.spec)).toEqual(specs);
    const params = Object.fromEntries(rows.map((x) => [x.model, x.params]));
    expect(params).toMatchObject({ UNETR_96: 121_123_246, SwinUNETR_48: 62_187_296, UXNET_3D: 53_006_510, TransBTS: 31_577_438 });
    // nnFormer at 96³: the crop size follows the input (149,320,934 with 14 classes; this spec's default).
    expect(params.nnFormer).toBe(149_320_934);
    // A 2-D network gets the last two axes; its img_size follows.
    expect(rows.at(-1)!.inputSize).toEqual([96, 96]);
    for (const x of rows) expect(x.flops).toBeGreaterThan(2 * x.macs - 1);
    const table = await mnxcInProcess('compare', ...specs.slice(0, 3), '--input-size', '96,96,96');
    expect(table.out).toMatch(/^network\s+spec\s+input\s+params \(M\)\s+GMACs\s+GFLOPs\s+activations GiB/);
    expect(table.out).toMatch(/UNETR_96\s+examples\/baselines\/paper\/unetr_96\.mnx\s+1×96×96×96\s+121\.12/);
  });

  it('a network that does not fit the size is reported with its diagnostics and exit 1', async () => {
    const r = await mnxcInProcess('compare', 'examples/baselines/swin_unetr.mnx', '--input-size', '80,80,80');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/swin_unetr\.mnx:\d+:\d+: error MNX5001: assertion failed: SwinUNETR: the input size must be divisible by patch_size \*\* 5 \(32\)/);
  });
});
