/**
 * `mnxc export-web`: a trained run folder as a static web site that segments a NIfTI file in the
 * browser (runtime/browser/segment.ts, on WebGPU, WebGL, wasm or cpu), shows it in NiiVue with the
 * dataset's labels and lets the user download the label map. Nothing is uploaded: every file the
 * page needs is in the site.
 *
 *   SITE/index.html                 the page (app/web/index.html)
 *   SITE/site.json                  the manifest (runtime/browser/segment.ts's SiteManifest)
 *   SITE/model.ir.json, plans.json  the network as compiled and the run's plans
 *   SITE/weights/fold_K.safetensors one per fold: the checkpoint's weights file as it is
 *   SITE/*.js, *.wasm               the bundle (app/web/bundle.ts): runtime, page, NiiVue, TF.js's wasm
 *
 * The site is written into a temporary folder beside SITE and renamed into place. An existing SITE
 * is replaced as a whole when it is an earlier export (it has site.json) or empty; any other
 * existing path is refused, so no folder of the user's is ever deleted.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { packageRoot } from '../../runtime/io/package-root.js';
import { SITE_MANIFEST, type SiteManifest } from '../../runtime/browser/segment.js';
import type { Plans } from '../../runtime/data/plan/plans.js';
import { RunFolder, type CheckpointName } from '../run-folder.js';
import { JobError } from '../errors.js';
import { buildWebBundle, WEB_ENTRIES } from './bundle.js';

export interface ExportWebOptions {
  runDir: string;
  siteDir: string;
  /** `--folds` (default: every fold folder present). */
  folds?: string;
  checkpoint?: CheckpointName;
  /** Minify the bundle (default true). */
  minify?: boolean;
}

export interface ExportedSite {
  siteDir: string;
  folds: string[];
  /** Every file, relative to the site, and its size. */
  files: { file: string; bytes: number }[];
  bytes: number;
  /** Whether an earlier export was replaced. */
  replaced: boolean;
}

/**
 * Colours of labels 1, 2, …: distinct, saturated, readable over a grey-scale image (background has
 * none); past the list, hues by the golden angle.
 */
const PALETTE: [number, number, number][] = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [255, 225, 25], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [170, 110, 40],
];

function hueColor(i: number): [number, number, number] {
  const h = (i * 137.508) % 360;
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (0.5 - 0.45 * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

export function labelColor(index: number): [number, number, number] {
  return PALETTE[index - 1] ?? hueColor(index);
}

/** The label values of the segmentation with their names (background first). */
export function siteLabels(plans: Plans): SiteManifest['labels'] {
  const d = plans.dataset;
  const named: [number, string][] = d.regions
    ? [[0, 'background'], ...d.regions.map((r, i): [number, string] => [d.regions_class_order![i]!, r.name])]
    : Object.entries(d.labels).map(([v, name]): [number, string] => [Number(v), name]);
  const unique = [...new Map(named.map(([v, n]) => [v, n])).entries()].sort((a, b) => a[0] - b[0]);
  if (!unique.some(([v]) => v === 0)) unique.unshift([0, 'background']);
  return unique.map(([value, name], i) => ({ value, name, color: value === 0 ? [0, 0, 0] : labelColor(i) }));
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}

/** Why SITE cannot be replaced (null: it does not exist, is empty, or is an earlier export). */
function refuseSite(siteDir: string): string | null {
  if (!existsSync(siteDir)) return null;
  if (!statSync(siteDir).isDirectory()) return `${siteDir}: exists and is not a folder; give another -o`;
  const entries = readdirSync(siteDir);
  if (entries.length === 0 || entries.includes(SITE_MANIFEST)) return null;
  return `${siteDir}: exists and is not a site mnxc export-web wrote (no ${SITE_MANIFEST}); give a new or empty folder, or remove it yourself`;
}

const PAGE_ENTRY = { 'mnxc-page': 'app/web/page.ts' };

/** Writes the site; JobError (or the run folder's errors) before anything is written when the inputs are wrong. */
export async function exportWeb(opts: ExportWebOptions): Promise<ExportedSite> {
  const run = RunFolder.open(opts.runDir);
  const folds = run.selectFolds(opts.folds);
  const checkpoint = opts.checkpoint ?? 'final';
  // every checkpoint and the post-processing are checked before anything is written
  const weights = folds.map((f) => run.weightsPath(f, checkpoint));
  const postprocessing = run.postprocessing();
  const siteDir = resolve(opts.siteDir);
  const refusal = refuseSite(siteDir);
  if (refusal) throw new JobError(refusal);
  if (resolve(run.dir).startsWith(siteDir + '/') || resolve(run.dir) === siteDir) throw new JobError(`${siteDir}: is (or holds) the run folder; give another -o`);

  const parent = dirname(siteDir);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(siteDir)}.tmp-${process.pid}`);
  const old = join(parent, `.${basename(siteDir)}.old-${process.pid}`);
  try {
    await buildWebBundle({ outDir: tmp, entries: { ...WEB_ENTRIES, ...PAGE_ENTRY }, minify: opts.minify ?? true });
    const root = packageRoot(import.meta.url);
    const runName = basename(resolve(run.dir));
    const title = run.plans.dataset.name ? `${run.plans.dataset.name} (${runName})` : runName;
    const html = readFileSync(join(root, 'app', 'web', 'index.html'), 'utf8').replaceAll('{{TITLE}}', escapeHtml(title));
    writeFileSync(join(tmp, 'index.html'), html);
    writeFileSync(join(tmp, 'model.ir.json'), JSON.stringify(run.ir) + '\n');
    writeFileSync(join(tmp, 'plans.json'), JSON.stringify(run.plans) + '\n');
    mkdirSync(join(tmp, 'weights'));
    const foldFiles = folds.map((fold, i) => {
      const file = `weights/fold_${fold}.safetensors`;
      copyFileSync(weights[i]!, join(tmp, file));
      return { fold, file, bytes: statSync(join(tmp, file)).size };
    });
    const manifest: SiteManifest = {
      format: 'mnxc-web-site',
      version: 1,
      name: title,
      checkpoint,
      ir: 'model.ir.json',
      plans: 'plans.json',
      folds: foldFiles,
      classes: run.classes,
      labels: siteLabels(run.plans),
      channels: run.plans.dataset.channels,
      postprocessing,
      mnxc: (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
    };
    writeFileSync(join(tmp, SITE_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    // into place: the earlier export (if any) moves aside, the new one in, then the old one goes
    const replaced = existsSync(siteDir);
    if (replaced) renameSync(siteDir, old);
    try {
      renameSync(tmp, siteDir);
    } catch (e) {
      if (replaced) renameSync(old, siteDir);
      throw e;
    }
    if (replaced) rmSync(old, { recursive: true, force: true });
    const files = listFiles(siteDir).map((file) => ({ file, bytes: statSync(join(siteDir, file)).size }));
    return { siteDir, folds, files, bytes: files.reduce((a, f) => a + f.bytes, 0), replaced };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
