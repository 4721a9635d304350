/**
 * Training curves for the demo report as one inline SVG: losses (train, validation) on the left,
 * validation pseudo Dice and its moving average on the right, per epoch. Reads the records of a
 * fold's progress.json.
 */

export interface EpochPoint {
  epoch: number;
  train_loss: number;
  val_loss: number | null;
  pseudo_dice: number | null;
  ema_pseudo_dice: number | null;
}

interface Line {
  label: string;
  colour: string;
  values: (number | null)[];
  dashed?: boolean;
}

const W = 360, H = 220, M = { l: 46, r: 10, t: 26, b: 34 };

function fmtTick(v: number): string {
  const a = Math.abs(v);
  return a === 0 ? '0' : a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(1) : v.toFixed(2);
}

function panel(x0: number, title: string, lines: Line[], fixed?: [number, number]): string {
  const n = Math.max(1, ...lines.map((l) => l.values.length));
  const finite = lines.flatMap((l) => l.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  let [lo, hi] = fixed ?? [Math.min(...finite, Infinity), Math.max(...finite, -Infinity)];
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.5, hi + 0.5];
  const px = (i: number) => x0 + M.l + (n === 1 ? 0.5 : i / (n - 1)) * (W - M.l - M.r);
  const py = (v: number) => M.t + (1 - (v - lo) / (hi - lo)) * (H - M.t - M.b);
  const out: string[] = [];
  out.push(`<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">${title}</text>`);
  out.push(`<rect x="${x0 + M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#999"/>`);
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    out.push(`<line x1="${x0 + M.l}" x2="${x0 + W - M.r}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${x0 + M.l - 4}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${fmtTick(v)}</text>`);
  }
  const epochTicks = [...new Set([0, Math.floor((n - 1) / 2), n - 1])];
  for (const e of epochTicks) out.push(`<text x="${px(e).toFixed(1)}" y="${H - M.b + 14}" text-anchor="middle">${e + 1}</text>`);
  out.push(`<text x="${x0 + M.l + (W - M.l - M.r) / 2}" y="${H - 4}" text-anchor="middle">epoch</text>`);
  lines.forEach((l, li) => {
    const pts = l.values.map((v, i) => (v === null || !Number.isFinite(v) ? null : `${px(i).toFixed(1)},${py(v).toFixed(1)}`));
    // Break the line at missing values.
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1) out.push(`<polyline fill="none" stroke="${l.colour}" stroke-width="1.8"${l.dashed ? ' stroke-dasharray="5 3"' : ''} points="${run.join(' ')}"/>`);
      else if (run.length === 1) out.push(`<circle cx="${run[0]!.split(',')[0]}" cy="${run[0]!.split(',')[1]}" r="2.5" fill="${l.colour}"/>`);
      run = [];
    };
    for (const p of pts) {
      if (p === null) flush();
      else run.push(p);
    }
    flush();
    const ly = M.t + 12 + li * 14;
    out.push(`<line x1="${x0 + W - M.r - 96}" x2="${x0 + W - M.r - 80}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.colour}" stroke-width="2"${l.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${x0 + W - M.r - 76}" y="${ly}">${l.label}</text>`);
  });
  return out.join('');
}

/** The two-panel SVG (self-contained, no scripts). */
export function renderCurvesSvg(history: EpochPoint[]): string {
  const losses: Line[] = [
    { label: 'train loss', colour: '#1f77b4', values: history.map((h) => h.train_loss) },
    { label: 'val loss', colour: '#d62728', values: history.map((h) => h.val_loss) },
  ];
  const dice: Line[] = [
    { label: 'pseudo Dice', colour: '#2ca02c', values: history.map((h) => h.pseudo_dice) },
    { label: 'EMA', colour: '#555', values: history.map((h) => h.ema_pseudo_dice), dashed: true },
  ];
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" viewBox="0 0 ${2 * W} ${H}" font-family="sans-serif" font-size="11">` +
    panel(0, 'Loss (Dice + CE)', losses) +
    panel(W, 'Validation pseudo Dice', dice, [0, 1]) +
    '</svg>'
  );
}
