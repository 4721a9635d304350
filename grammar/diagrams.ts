import type { ISerializedGast } from 'chevrotain';
import { parser } from './parser.js';

/**
 * Railroad diagrams of the grammar, drawn as SVG from the parser's own serialized grammar
 * (never by hand), one per rule. docs/grammar/<rule>.svg are generated from this and checked
 * by a test, so the docs cannot drift from the parser.
 */
interface Piece {
  w: number;
  /** Height above and below the track line. */
  up: number;
  down: number;
  draw(x: number, y: number): string;
}

const CH = 7.2; // approximate character width at 12px monospace
const GAP = 14;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const line = (x1: number, y1: number, x2: number, y2: number) => `<path d="M${x1} ${y1}H${x2}${y2 !== y1 ? `V${y2}` : ''}"/>`;

function box(text: string, rule: boolean, href?: string): Piece {
  const w = text.length * CH + 20;
  return {
    w,
    up: 11,
    down: 11,
    draw: (x, y) => {
      const r = `<rect x="${x}" y="${y - 11}" width="${w}" height="22" rx="${rule ? 0 : 11}" class="${rule ? 'rule' : 'tok'}"/><text x="${x + w / 2}" y="${y + 4}">${esc(text)}</text>`;
      return href ? `<a href="${href}">${r}</a>` : r;
    },
  };
}

function seq(items: Piece[]): Piece {
  if (items.length === 0) return { w: 0, up: 0, down: 0, draw: () => '' };
  const w = items.reduce((a, p) => a + p.w, 0) + GAP * (items.length - 1);
  return {
    w,
    up: Math.max(...items.map((p) => p.up)),
    down: Math.max(...items.map((p) => p.down)),
    draw: (x, y) => {
      let out = '';
      let cx = x;
      items.forEach((p, i) => {
        out += p.draw(cx, y);
        cx += p.w;
        if (i < items.length - 1) out += line(cx, y, cx + GAP, y);
        cx += i < items.length - 1 ? GAP : 0;
      });
      return out;
    },
  };
}

/** Branches stacked under each other; `skip` adds an empty first branch (optional). */
function choice(branches: Piece[], skip = false): Piece {
  const all = skip ? [{ w: 0, up: 0, down: 0, draw: () => '' }, ...branches] : branches;
  const inner = Math.max(...all.map((p) => p.w));
  const w = inner + 2 * GAP;
  const offsets: number[] = [];
  let h = 0;
  all.forEach((p, i) => {
    if (i > 0) h += all[i - 1]!.down + 8 + p.up;
    offsets.push(h);
  });
  return {
    w,
    up: all[0]!.up,
    down: h + all[all.length - 1]!.down,
    draw: (x, y) => {
      let out = '';
      all.forEach((p, i) => {
        const by = y + offsets[i]!;
        out += `<path d="M${x} ${y}C${x + GAP / 2} ${y} ${x + GAP / 2} ${by} ${x + GAP} ${by}"/>`;
        out += p.draw(x + GAP, by);
        out += line(x + GAP + p.w, by, x + GAP + inner, by);
        out += `<path d="M${x + GAP + inner} ${by}C${x + w - GAP / 2} ${by} ${x + w - GAP / 2} ${y} ${x + w} ${y}"/>`;
      });
      return out;
    },
  };
}

/** One or more: the item with a loop back under it (carrying `sep` when there is one). */
function loop(item: Piece, sep: Piece | null, optional: boolean): Piece {
  const back = sep ?? { w: 0, up: 0, down: 0, draw: () => '' };
  const inner = Math.max(item.w, back.w);
  const w = inner + 2 * GAP;
  const by = item.down + 8 + back.up;
  const body: Piece = {
    w,
    up: item.up,
    down: by + Math.max(back.down, 4),
    draw: (x, y) =>
      line(x, y, x + GAP, y) +
      item.draw(x + GAP + (inner - item.w) / 2, y) +
      line(x + GAP + (inner - item.w) / 2 + item.w, y, x + w, y) +
      `<path d="M${x + w - GAP} ${y}C${x + w - 2} ${y} ${x + w - 2} ${y + by} ${x + w - GAP} ${y + by}"/>` +
      line(x + w - GAP, y + by, x + GAP + (inner + back.w) / 2, y + by) +
      back.draw(x + GAP + (inner - back.w) / 2, y + by) +
      line(x + GAP + (inner - back.w) / 2, y + by, x + GAP, y + by) +
      `<path d="M${x + GAP} ${y + by}C${x + 2} ${y + by} ${x + 2} ${y} ${x + GAP} ${y}"/>`,
  };
  return optional ? choice([body], true) : body;
}

function piece(n: ISerializedGast): Piece {
  const defs = (n as { definition?: ISerializedGast[] }).definition ?? [];
  const sepOf = (s: unknown) => (s ? box(String((s as { label?: string; name: string }).label ?? (s as { name: string }).name), false) : null);
  switch (n.type) {
    case 'Terminal': {
      const t = n as unknown as { name: string; label?: string };
      return box(t.label ?? t.name, false);
    }
    case 'NonTerminal': {
      const name = (n as unknown as { name: string }).name;
      return box(name, true, `#${name}`);
    }
    case 'Alternative':
      return seq(defs.map(piece));
    case 'Alternation':
      return choice(defs.map(piece));
    case 'Option':
      return choice([seq(defs.map(piece))], true);
    case 'Repetition':
      return loop(seq(defs.map(piece)), null, true);
    case 'RepetitionMandatory':
      return loop(seq(defs.map(piece)), null, false);
    case 'RepetitionWithSeparator':
      return loop(seq(defs.map(piece)), sepOf((n as { separator?: unknown }).separator), true);
    case 'RepetitionMandatoryWithSeparator':
      return loop(seq(defs.map(piece)), sepOf((n as { separator?: unknown }).separator), false);
    default:
      return seq(defs.map(piece));
  }
}

export function ruleSvg(rule: ISerializedGast): string {
  const body = seq((rule as { definition: ISerializedGast[] }).definition.map(piece));
  const w = body.w + 60;
  const y = body.up + 30;
  const h = y + body.down + 16;
  const name = (rule as unknown as { name: string }).name;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`,
    '<style>path{fill:none;stroke:#335;stroke-width:1.5}rect.tok{fill:#e8f0fe;stroke:#335}rect.rule{fill:#fff4dc;stroke:#335}text{font:12px monospace;text-anchor:middle;fill:#111}text.title{font:bold 13px sans-serif;text-anchor:start}</style>',
    `<text class="title" x="8" y="16">${esc(name)}</text>`,
    `<circle cx="14" cy="${y}" r="4" fill="#335"/>`,
    line(18, y, 30, y),
    body.draw(30, y),
    line(30 + body.w, y, w - 18, y),
    `<circle cx="${w - 14}" cy="${y}" r="4" fill="#335"/>`,
    '</svg>',
  ]
    .join('\n')
    // Round coordinates so the generated files are stable and readable.
    .replace(/(\d+\.\d)\d+/g, '$1') + '\n';
}

/** Every rule's diagram, in grammar order. */
export function grammarDiagrams(): { rule: string; svg: string }[] {
  return parser.getSerializedGastProductions().map((r) => ({ rule: (r as unknown as { name: string }).name, svg: ruleSvg(r) }));
}
