/**
 * The one training-curve renderer. progress.svg (and the demo report's chart): stacked charts per
 * epoch — train and validation loss; pseudo Dice and its moving average; learning rate (when the
 * records have it) — with axes, ticks, grid and a legend, so a person can judge a run at a
 * glance. Plain SVG text, no dependencies.
 */
export interface EpochRecord {
  epoch: number;
  train_loss: number;
  val_loss: number | null;
  pseudo_dice: number | null;
  pseudo_dice_per_class: (number | null)[];
  ema_pseudo_dice: number | null;
  lr: number;
  seconds: number;
}

/** What the charts read from an epoch record (the learning rate panel needs `lr`). */
export type CurvePoint = Pick<EpochRecord, 'epoch' | 'train_loss' | 'val_loss' | 'pseudo_dice' | 'ema_pseudo_dice'> & { lr?: number };

interface Series {
  label: string;
  color: string;
  values: (number | null)[];
  dashed?: boolean;
}

const W = 760, PANEL_H = 210, LEFT = 70, RIGHT = 170, TOP = 34, GAP = 46;

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1]! < hi) out.push(out[out.length - 1]! + step);
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(y0: number, title: string, epochs: number[], series: Series[], xMax: number): string {
  const plotW = W - LEFT - RIGHT, plotH = PANEL_H;
  const all = series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const ticks = all.length ? niceTicks(Math.min(...all), Math.max(...all)) : [0, 1];
  const yLo = ticks[0]!, yHi = ticks[ticks.length - 1]!;
  const xs = (e: number) => LEFT + (xMax <= 1 ? 0 : (e / (xMax - 1)) * plotW);
  const ys = (v: number) => y0 + plotH - ((v - yLo) / (yHi - yLo || 1)) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${LEFT}" y="${y0 - 10}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<rect x="${LEFT}" y="${y0}" width="${plotW}" height="${plotH}" fill="#fff" stroke="#888"/>`);
  for (const t of ticks) {
    const y = ys(t).toFixed(1);
    parts.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${y}" font-size="11" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(0, Math.max(1, xMax - 1), 8).filter((t) => Number.isInteger(t) && t <= Math.max(0, xMax - 1))) {
    const x = xs(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${y0}" y2="${y0 + plotH}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${x}" y="${y0 + plotH + 14}" font-size="11" text-anchor="middle">${t}</text>`);
  }
  series.forEach((s, k) => {
    // One polyline per run of finite values (a gap breaks the line); a lone value is a dot.
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1) parts.push(`<polyline points="${run.join(' ')}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
      else if (run.length === 1) parts.push(`<circle cx="${run[0]!.split(',')[0]}" cy="${run[0]!.split(',')[1]}" r="2.5" fill="${s.color}"/>`);
      run = [];
    };
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) flush();
      else run.push(`${xs(epochs[i]!).toFixed(1)},${ys(v).toFixed(1)}`);
    });
    flush();
    const ly = y0 + 14 + 18 * k;
    parts.push(`<line x1="${LEFT + plotW + 14}" x2="${LEFT + plotW + 38}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    parts.push(`<text x="${LEFT + plotW + 44}" y="${ly}" font-size="12" dominant-baseline="middle">${esc(s.label)}</text>`);
  });
  return parts.join('\n');
}

export function renderProgressSvg(history: CurvePoint[], totalEpochs: number, title: string): string {
  const epochs = history.map((h) => h.epoch);
  const xMax = Math.max(totalEpochs, 2);
  const withLr = history.length > 0 && history.every((h) => h.lr !== undefined);
  const panels = withLr ? 3 : 2;
  const H = TOP + panels * PANEL_H + (panels - 1) * GAP + 40;
  const body = [
    panel(TOP + 16, 'Loss (Dice + CE)', epochs, [
      { label: 'train', color: '#1f77b4', values: history.map((h) => h.train_loss) },
      { label: 'validation', color: '#d62728', values: history.map((h) => h.val_loss) },
    ], xMax),
    panel(TOP + 16 + PANEL_H + GAP, 'Validation pseudo Dice (foreground mean)', epochs, [
      { label: 'pseudo Dice', color: '#2ca02c', values: history.map((h) => h.pseudo_dice) },
      { label: 'moving average', color: '#2ca02c', values: history.map((h) => h.ema_pseudo_dice), dashed: true },
    ], xMax),
  ];
  if (withLr) body.push(panel(TOP + 16 + 2 * (PANEL_H + GAP), 'Learning rate', epochs, [{ label: 'lr', color: '#9467bd', values: history.map((h) => h.lr!) }], xMax));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fafafa"/>`,
    `<text x="${W / 2}" y="20" font-size="15" text-anchor="middle">${esc(title)} — epoch ${history.length ? epochs[epochs.length - 1]! + 1 : 0} of ${totalEpochs}</text>`,
    ...body,
    `<text x="${LEFT + (W - LEFT - RIGHT) / 2}" y="${H - 8}" font-size="12" text-anchor="middle">epoch</text>`,
    '</svg>',
    '',
  ].join('\n');
}
