import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../tests/fixtures.js';
import { compileFile } from '../compile.js';
import { renderDot, renderHtml, renderSvg } from './graph.js';

describe('graph pictures', () => {
  const ir = compileFile(join(ROOT, 'examples', 'tiny.mnx'), { inputSize: [32, 32, 32] }).ir!;
  const modules = [...new Set(ir.nodes.filter((n) => n.op !== 'output').map((n) => n.block || n.id))];

  it('draws one box per module, with its output shape', () => {
    const svg = renderSvg(ir);
    expect(svg.match(/<rect /g)!.length).toBe(modules.length);
    for (const m of modules) expect(svg).toContain(`>${m}</text>`);
    expect(svg).toContain('4 × 32×32×32');
    expect(renderHtml(ir)).toContain(svg);
  });

  it('DOT has every module and the skip edges into the decoder', () => {
    const dot = renderDot(ir);
    for (const m of modules) expect(dot).toContain(`"${m}"`);
    expect(dot).toMatch(/"enc_block_0\.0" -> "add_\d+"/);
    expect(dot).toContain('-> "output 4"');
  });
});
