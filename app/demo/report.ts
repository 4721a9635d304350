import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { renderProgressSvg, type CurvePoint } from '../../runtime/train/progress-svg.js';
import { encodePng, pngDataUri } from './png.js';
import { labelColour, labelSlice, sideBySide, windowedSlice, type RgbPicture } from './slices.js';

/**
 * The demo's report.html: one self-contained page (inline SVG and PNG data URIs, no scripts, no
 * external files) with the run's settings and step timings, the training curves, the metrics
 * table, and axial slices of one test case — image, reference and prediction side by side.
 */

export interface ClassMetrics {
  name: string;
  dice: number;
  nsd: number;
  hd95: number;
  asd: number;
}

export interface ExampleCase {
  id: string;
  /** [X, Y, Z], x fastest. */
  shape: number[];
  image: ArrayLike<number>;
  reference: ArrayLike<number>;
  prediction: ArrayLike<number>;
  /** Display window (level, width) in the image's units, e.g. 40, 400 HU. */
  window: [number, number];
}

export interface ReportInput {
  title: string;
  /** Label value → name, background included. */
  labels: Record<number, string>;
  settings: [string, string][];
  steps: { name: string; seconds: number }[];
  history: CurvePoint[];
  metrics: ClassMetrics[];
  /** Mean over the foreground classes. */
  mean: Omit<ClassMetrics, 'name'>;
  /** What the metrics were computed on, e.g. "5 test cases, NSD tolerance 1 mm". */
  metricsNote: string;
  example: ExampleCase | null;
  outputs: [string, string][];
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function fmt(v: number, digits = 3): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '—';
}

/** Up to `count` slices worth showing: where each foreground class of the reference is largest, then the middle. */
export function pickSlices(reference: ArrayLike<number>, shape: number[], count = 3): number[] {
  const [X = 1, Y = 1, Z = 1] = shape;
  const perClass = new Map<number, number[]>();
  for (let k = 0; k < Z; k++) {
    for (let p = 0; p < X * Y; p++) {
      const v = reference[p + X * Y * k]!;
      if (v === 0) continue;
      let row = perClass.get(v);
      if (!row) perClass.set(v, (row = new Array<number>(Z).fill(0)));
      row[k]!++;
    }
  }
  const picked: number[] = [];
  for (const v of [...perClass.keys()].sort((a, b) => b - a)) {
    const row = perClass.get(v)!;
    const best = row.indexOf(Math.max(...row));
    if (!picked.some((k) => Math.abs(k - best) < 2)) picked.push(best);
    if (picked.length === count) break;
  }
  if (picked.length < count && !picked.includes(Math.floor(Z / 2))) picked.push(Math.floor(Z / 2));
  return picked.slice(0, count).sort((a, b) => a - b);
}

function exampleFigure(ex: ExampleCase): string {
  const scale = Math.max(1, Math.min(3, Math.floor(200 / Math.max(ex.shape[0]!, ex.shape[1]!))));
  const rows = pickSlices(ex.reference, ex.shape).map((k) => {
    const img = windowedSlice(ex.image, ex.shape, k, ex.window[0], ex.window[1], scale);
    const pic: RgbPicture = sideBySide([img, labelSlice(ex.reference, ex.shape, k, scale, img), labelSlice(ex.prediction, ex.shape, k, scale, img)]);
    return `<figure><img alt="slice ${k + 1}: image, reference, prediction" width="${pic.width}" height="${pic.height}" src="${pngDataUri(encodePng(pic.width, pic.height, pic.rgb))}"><figcaption>slice ${k + 1} of ${ex.shape[2]}</figcaption></figure>`;
  });
  const panel = `style="width:${ex.shape[0]! * scale + 4}px"`;
  return `<p class="cols"><span ${panel}>image (W ${ex.window[1]} L ${ex.window[0]})</span><span ${panel}>reference</span><span ${panel}>prediction</span></p>${rows.join('\n')}`;
}

export function renderReport(r: ReportInput): string {
  const total = r.steps.reduce((a, s) => a + s.seconds, 0);
  const legend = Object.entries(r.labels)
    .filter(([v]) => Number(v) !== 0)
    .map(([v, name]) => `<span class="swatch" style="background:rgb(${labelColour(Number(v)).join(',')})"></span>${escapeHtml(name)}`)
    .join(' ');
  const metricRows = r.metrics
    .map((m) => `<tr><td>${escapeHtml(m.name)}</td><td>${fmt(m.dice)}</td><td>${fmt(m.nsd)}</td><td>${fmt(m.hd95, 2)}</td><td>${fmt(m.asd, 2)}</td></tr>`)
    .join('');
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(r.title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.92em}td,th{border:1px solid #ccc;padding:3px 9px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.mean td{font-weight:bold;background:#f4f4f4}
figure{margin:6px 0}figcaption{font-size:.85em;color:#555}img{image-rendering:pixelated;display:block}
.cols span{display:inline-block;font-size:.9em;color:#444}.swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
code{background:#f4f4f4;padding:1px 4px}
</style></head><body>
<h1>${escapeHtml(r.title)}</h1>
<h2>Settings</h2>
<table>${r.settings.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td style="text-align:left">${escapeHtml(v)}</td></tr>`).join('')}</table>
<h2>Steps</h2>
<table><tr><th>step</th><th>seconds</th><th>share</th></tr>${r.steps
    .map((s) => `<tr><td>${escapeHtml(s.name)}</td><td>${s.seconds.toFixed(1)}</td><td>${total > 0 ? ((100 * s.seconds) / total).toFixed(0) : '0'} %</td></tr>`)
    .join('')}<tr class="mean"><td>total</td><td>${total.toFixed(1)}</td><td></td></tr></table>
<h2>Training</h2>
${r.history.length > 0 ? renderProgressSvg(r.history, r.history.length, 'Training') : '<p>no epochs recorded</p>'}
<h2>Test-set metrics</h2>
<p>${escapeHtml(r.metricsNote)}</p>
<table><tr><th>class</th><th>Dice</th><th>NSD</th><th>HD95 (mm)</th><th>ASD (mm)</th></tr>${metricRows}
<tr class="mean"><td>mean (foreground)</td><td>${fmt(r.mean.dice)}</td><td>${fmt(r.mean.nsd)}</td><td>${fmt(r.mean.hd95, 2)}</td><td>${fmt(r.mean.asd, 2)}</td></tr></table>
<h2>Example: ${r.example ? escapeHtml(r.example.id) : 'none'}</h2>
<p>${legend}</p>
${r.example ? exampleFigure(r.example) : '<p>no test case to show</p>'}
<h2>Outputs</h2>
<table>${r.outputs.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td style="text-align:left"><code>${escapeHtml(v)}</code></td></tr>`).join('')}</table>
</body></html>
`;
  return html;
}

export function writeReport(path: string, r: ReportInput): void {
  writeFileAtomic(path, renderReport(r));
}
