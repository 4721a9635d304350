import type { IRModel, IRNode } from '../../ir/types.js';

/**
 * A picture of the network a person can read: one box per module (a block of the spec, e.g.
 * `enc_block_0.1`, `down_0`), laid out in execution order from left to right and by resolution
 * level from top to bottom, so a U-Net looks like a U. Edges follow the data; skips are curved.
 */
interface Box {
  id: string;
  label: string;
  detail: string;
  shape: string;
  level: number;
  order: number;
  ops: IRNode[];
}

function boxes(ir: IRModel): { boxes: Box[]; edges: [string, string][] } {
  const boxOf = new Map<string, string>();
  const out: Box[] = [];
  const byId = new Map<string, Box>();
  const level = new Map<string, number>();
  for (const n of ir.nodes) {
    if (n.op === 'output') continue;
    const key = n.block || n.id;
    const lv = Math.max(0, ...n.inputs.map((i) => level.get(i) ?? 0)) + (n.op === 'conv' && (n.attrs.stride as number[])[0]! > 1 ? 1 : 0) - (n.op === 'conv_transpose' && (n.attrs.stride as number[])[0]! > 1 ? 1 : 0);
    level.set(n.id, lv);
    boxOf.set(n.id, key);
    let b = byId.get(key);
    if (!b) {
      b = { id: key, label: key, detail: '', shape: '', level: lv, order: out.length, ops: [] };
      byId.set(key, b);
      out.push(b);
    }
    b.ops.push(n);
    b.level = Math.min(b.level, lv);
    b.shape = `${n.out.channels}${n.out.spatial ? ' × ' + n.out.spatial.join('×') : ''}`;
  }
  for (const b of out) {
    const kinds = [...new Set(b.ops.map((o) => (o.op === 'conv' && (o.attrs.groups as number) > 1 ? 'dw' : o.op === 'conv_transpose' && (o.attrs.groups as number) > 1 ? 'dwT' : SHORT[o.op] ?? o.op)))];
    const k = b.ops.find((o) => o.op === 'conv' || o.op === 'conv_transpose')?.attrs.kernel as number[] | undefined;
    b.detail = kinds.join(' · ') + (k && k[0]! > 1 ? ` (k${k[0]})` : '');
  }
  const edges = new Set<string>();
  for (const n of ir.nodes) {
    if (n.op === 'output') continue;
    for (const i of n.inputs) {
      const a = boxOf.get(i)!;
      const b = boxOf.get(n.id)!;
      if (a !== b) edges.add(`${a}\u0000${b}`);
    }
  }
  return { boxes: out, edges: [...edges].map((e) => e.split('\u0000') as [string, string]) };
}

/** Short operation names for box labels. */
const SHORT: Record<string, string> = { conv: 'conv', conv_transpose: 'convT', group_norm: 'GN', layer_norm: 'LN', gelu: 'GELU', leaky_relu: 'lReLU', relu: 'ReLU', add: '+', concat: 'cat', pad: 'pad', grn: 'GRN', input: 'input' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderDot(ir: IRModel): string {
  const { boxes: bs, edges } = boxes(ir);
  const lines = [`digraph "${ir.name}" {`, '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];'];
  for (const b of bs) lines.push(`  "${b.id}" [label="${b.label}\\n${b.detail}\\n${b.shape}"];`);
  for (const [a, b] of edges) lines.push(`  "${a}" -> "${b}";`);
  ir.outputs.forEach((o, i) => lines.push(`  "${ir.nodes.find((n) => n.id === o)!.block}" -> "output ${i}";`));
  lines.push('}');
  return lines.join('\n') + '\n';
}

export function renderSvg(ir: IRModel): string {
  const { boxes: bs, edges } = boxes(ir);
  const W = 150;
  const H = 54;
  const GX = 24;
  const GY = 40;
  const pos = new Map(bs.map((b) => [b.id, { x: 20 + b.order * (W + GX), y: 70 + b.level * (H + GY) }]));
  const width = 40 + bs.length * (W + GX);
  const height = 110 + (Math.max(...bs.map((b) => b.level)) + 1) * (H + GY);
  const colour = (b: Box) => (b.ops.some((o) => o.op === 'conv_transpose') ? '#fde7d4' : b.ops.some((o) => o.op === 'conv' && (o.attrs.stride as number[])[0]! > 1) ? '#dbeed8' : '#eef3fb');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<text x="20" y="22" font-size="15" font-weight="bold">${esc(ir.name)}${ir.variant ? ' (' + esc(ir.variant) + ')' : ''}</text>`,
    '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#667"/></marker></defs>',
  ];
  for (const [a, b] of edges) {
    const p = pos.get(a)!;
    const q = pos.get(b)!;
    const x1 = p.x + W;
    const y1 = p.y + H / 2;
    const x2 = q.x;
    const y2 = q.y + H / 2;
    const skip = q.x - p.x > W + GX;
    const d = skip ? `M${p.x + W / 2},${p.y} C${p.x + W / 2},${p.y - 30} ${q.x + W / 2},${q.y - 30} ${q.x + W / 2},${q.y}` : `M${x1},${y1} C${x1 + 12},${y1} ${x2 - 12},${y2} ${x2},${y2}`;
    parts.push(`<path d="${d}" fill="none" stroke="${skip ? '#c77' : '#667'}" stroke-dasharray="${skip ? '4 3' : ''}" marker-end="url(#a)"/>`);
  }
  for (const b of bs) {
    const p = pos.get(b.id)!;
    parts.push(
      `<g><title>${esc(b.ops.map((o) => `${o.id}: ${o.op}`).join('\n'))}</title><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="8" fill="${colour(b)}" stroke="#8899aa"/>` +
        `<text x="${p.x + W / 2}" y="${p.y + 16}" text-anchor="middle" font-weight="bold">${esc(b.label)}</text>` +
        `<text x="${p.x + W / 2}" y="${p.y + 31}" text-anchor="middle">${esc(b.detail.slice(0, 26))}</text>` +
        `<text x="${p.x + W / 2}" y="${p.y + 46}" text-anchor="middle" fill="#445">${esc(b.shape)}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export function renderHtml(ir: IRModel): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(ir.name)} — mnxc graph</title>
<style>body{font-family:Helvetica,Arial,sans-serif;margin:16px}div.scroll{overflow-x:auto;border:1px solid #ccd;padding:8px}</style></head>
<body><h1>${esc(ir.name)}${ir.variant ? ' — variant ' + esc(ir.variant) : ''}</h1>
<p>Boxes are modules (blocks of the spec) with their operations and output shape (channels × spatial); rows are resolution levels; dashed red curves are skip connections. Hover a box for its operations.</p>
<div class="scroll">${renderSvg(ir)}</div>
</body></html>
`;
}
