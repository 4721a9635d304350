/**
 * The page's pipeline: a NIfTI file's bytes in, the segmentation's NIfTI bytes out, on the input's
 * grid — what `mnxc predict` does for one case, by the same code (runtime/infer/predict-case.ts:
 * preprocessing as the run's plans say, sliding window with Gaussian weighting and mirroring, fold
 * ensembling, export, the run's post-processing), on whichever TF.js backend is active. No file
 * access, no Node built-ins: the site `mnxc export-web` writes is read through `fetch`.
 *
 * The site (see app/web/export-web.ts): `site.json` (the manifest below), `model.ir.json`,
 * `plans.json`, and one safetensors file of weights per fold, fetched when first needed, with
 * progress.
 */
import { gzipSync } from 'fflate';
import type { IRModel } from '../../ir/types.js';
import { decodeNifti } from '../data/nifti/decode.js';
import { encodeNifti } from '../data/nifti/encode.js';
import type { NiftiImage } from '../data/nifti/types.js';
import type { Plans } from '../data/plan/plans.js';
import { assembleCase, type NamedImage } from '../data/preprocess/case.js';
import { MnxError } from '../errors.js';
import { parseSafetensors, type TensorMap } from '../io/safetensors-format.js';
import { verifiedIR } from '../model/forward.js';
import { CasePredictor } from '../infer/predict-case.js';
import { labelMapImage } from '../infer/labels.js';
import type { PostprocessingEntry } from '../infer/lcc.js';
import { loadWeights } from '../weights/state-dict.js';

/** What a site's `site.json` says. */
export interface SiteManifest {
  format: 'mnxc-web-site';
  version: 1;
  /** The run's name (its folder's name), for the page's title. */
  name: string;
  checkpoint: string;
  ir: string;
  plans: string;
  /** One per fold, in the order they are ensembled. */
  folds: { fold: string; file: string; bytes: number }[];
  /** Classes the network predicts (background included). */
  classes: number;
  /** The label values of the segmentation, background first, with the dataset's names and a colour each. */
  labels: { value: number; name: string; color: [number, number, number] }[];
  /** Input channels (names as the dataset's), one file each or one 4-D file. */
  channels: string[];
  /** The run's post-processing (`for_which_classes` of its postprocessing.json), or null. */
  postprocessing: PostprocessingEntry[] | null;
  /** mnxc's version that wrote the site. */
  mnxc: string;
}

export const SITE_MANIFEST = 'site.json';

export class SiteError extends MnxError {}

/** Fetches `url`; `onBytes(received)` as the body arrives (a ReadableStream where the browser has one). */
export type FetchBytes = (url: string, onBytes?: (received: number) => void) => Promise<Uint8Array>;

/** `fetch` with progress: the body read chunk by chunk. */
export const fetchBytes: FetchBytes = async (url, onBytes) => {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new SiteError(`${url}: cannot fetch (${(e as Error).message})`);
  }
  if (!response.ok) throw new SiteError(`${url}: ${response.status} ${response.statusText}`);
  if (!response.body) {
    const all = new Uint8Array(await response.arrayBuffer());
    onBytes?.(all.byteLength);
    return all;
  }
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.byteLength;
    onBytes?.(received);
  }
  const out = new Uint8Array(received);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

export type SegmentStage = 'weights' | 'read' | 'preprocess' | 'windows' | 'export' | 'done';

export interface SegmentProgress {
  stage: SegmentStage;
  /** 0 … 1 over the whole segmentation (weights, windows of every fold, export). */
  fraction: number;
  message: string;
}

export interface Segmentation {
  /** The label map as an uncompressed NIfTI-1 file on the input's grid (uint8, or uint16 past 256 labels). */
  nifti: Uint8Array;
  /** The same, gzip-compressed (.nii.gz). */
  niftiGz(): Uint8Array;
  /** The label map as an image (x fastest, NIfTI order). */
  image: NiftiImage;
  /** Voxels per label value. */
  counts: Record<number, number>;
  /** Windows per fold and network passes (windows × folds × mirrors). */
  windows: number;
  passes: number;
  /** Seconds from the input's bytes to the label map's (weights already fetched). */
  seconds: number;
}

/** Lets the page draw (what was reported so far) before the next synchronous stretch. */
function nextTask(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

function joinUrl(base: string, file: string): string {
  return base === '' ? file : `${base.replace(/\/$/, '')}/${file}`;
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(text(bytes));
  } catch (e) {
    throw new SiteError(`${what}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * A site's network, plans and weights, ready to segment. Weights are fetched once, on the first
 * segmentation (or `fetchWeights`), and kept as tensors on the host; the network is built once.
 */
export class Segmenter {
  private weights: (TensorMap | null)[];
  private predictor: CasePredictor | null = null;

  private constructor(
    readonly base: string,
    readonly manifest: SiteManifest,
    readonly ir: IRModel,
    readonly plans: Plans,
    private readonly fetch: FetchBytes,
  ) {
    this.weights = manifest.folds.map(() => null);
  }

  /** Reads `site.json`, the IR (verified) and the plans from the site at `base` (a URL or folder). */
  static async open(base: string, fetch: FetchBytes = fetchBytes): Promise<Segmenter> {
    const manifestUrl = joinUrl(base, SITE_MANIFEST);
    const manifest = parseJson(await fetch(manifestUrl), manifestUrl) as SiteManifest;
    if (manifest?.format !== 'mnxc-web-site' || manifest.version !== 1)
      throw new SiteError(`${manifestUrl}: not an mnxc web site manifest (format mnxc-web-site, version 1)`);
    const irUrl = joinUrl(base, manifest.ir);
    const ir = verifiedIR(parseJson(await fetch(irUrl), irUrl), irUrl);
    const plansUrl = joinUrl(base, manifest.plans);
    const plans = parseJson(await fetch(plansUrl), plansUrl) as Plans;
    return new Segmenter(base, manifest, ir, plans, fetch);
  }

  /** Bytes of weights still to fetch. */
  get weightBytesToFetch(): number {
    return this.manifest.folds.reduce((a, f, i) => a + (this.weights[i] ? 0 : f.bytes), 0);
  }

  /** Fetches every fold's weights not fetched yet; `onBytes(received, total)` over all of them. */
  async fetchWeights(onBytes?: (received: number, total: number) => void): Promise<void> {
    const total = this.weightBytesToFetch;
    let before = 0;
    for (let i = 0; i < this.manifest.folds.length; i++) {
      if (this.weights[i]) continue;
      const f = this.manifest.folds[i]!;
      const url = joinUrl(this.base, f.file);
      const bytes = await this.fetch(url, (r) => onBytes?.(before + r, total));
      before += bytes.byteLength;
      this.weights[i] = parseSafetensors(bytes, url).tensors;
    }
  }

  private casePredictor(): CasePredictor {
    if (this.predictor) return this.predictor;
    this.predictor = new CasePredictor({
      plans: this.plans,
      ir: this.ir,
      classes: this.manifest.classes,
      plansFile: joinUrl(this.base, this.manifest.plans),
      folds: this.manifest.folds.length,
      loadFold: (model, i) => loadWeights(model, this.weights[i]!, joinUrl(this.base, this.manifest.folds[i]!.file)),
      postprocessing: this.manifest.postprocessing,
    });
    return this.predictor;
  }

  /**
   * Segments one case: `files` are its NIfTI files' bytes and names (one per channel, in the
   * dataset's channel order, or one 4-D file holding every channel). Mirroring as the plans say
   * unless `tta` is false.
   */
  async segment(files: { name: string; bytes: Uint8Array }[], options: { onProgress?: (p: SegmentProgress) => void } = {}): Promise<Segmentation> {
    const report = options.onProgress ?? (() => {});
    const weightShare = this.weightBytesToFetch > 0 ? 0.2 : 0;
    await this.fetchWeights((received, total) =>
      report({ stage: 'weights', fraction: (weightShare * received) / total, message: `weights ${(received / 1e6).toFixed(1)} / ${(total / 1e6).toFixed(1)} MB` }),
    );
    const t0 = performance.now();
    const channels = this.manifest.channels.length;
    if (files.length === 0) throw new SiteError('no input file');
    if (files.length !== 1 && files.length !== channels)
      throw new SiteError(`the network takes ${channels} channel(s) (${this.manifest.channels.join(', ')}): give one file per channel or one 4-D file; got ${files.length} files`);
    report({ stage: 'read', fraction: weightShare, message: `reading ${files.map((f) => f.name).join(', ')}` });
    await nextTask();
    const images: NamedImage[] = files.map((f) => ({ image: decodeNifti(f.bytes, f.name), file: f.name }));
    const inOneFile = channels > 1 && files.length === 1;
    const loaded = assembleCase({ id: files[0]!.name, images, label: null }, inOneFile, channels);
    report({ stage: 'preprocess', fraction: weightShare, message: 'preprocessing' });
    await nextTask();
    const folds = this.manifest.folds.length;
    let shown = performance.now();
    const predicted = await this.casePredictor().predict(loaded, { images: files.map((f) => f.name), label: null }, async ({ fold, done, total }) => {
      report({
        stage: 'windows',
        fraction: weightShare + ((1 - weightShare) * 0.95 * (fold * total + done)) / (total * folds),
        message: `fold ${this.manifest.folds[fold]!.fold}: window ${done} / ${total}`,
      });
      // a backend whose results arrive without a task (wasm, cpu) would hold the page until the end:
      // let it draw the progress every tenth of a second
      if (performance.now() - shown > 100) {
        await nextTask();
        shown = performance.now();
      }
    });
    report({ stage: 'export', fraction: weightShare + (1 - weightShare) * 0.97, message: 'writing the segmentation' });
    await nextTask();
    const image = labelMapImage(predicted.exported, loaded.reference);
    const nifti = encodeNifti(image, { like: loaded.reference, dtype: predicted.exported.dtype });
    const counts: Record<number, number> = {};
    for (const v of predicted.exported.labels) counts[v] = (counts[v] ?? 0) + 1;
    const seconds = (performance.now() - t0) / 1000;
    report({ stage: 'done', fraction: 1, message: `done in ${seconds.toFixed(1)} s` });
    return { nifti, niftiGz: () => gzipSync(nifti, { level: 6 }), image, counts, windows: predicted.windows, passes: predicted.passes, seconds };
  }

  dispose(): void {
    this.predictor?.dispose();
    this.predictor = null;
  }
}
