/// <reference lib="dom" />
/**
 * The page of a site `mnxc export-web` writes (app/web/index.html loads it as mnxc-page.js): a
 * dropped or chosen NIfTI file is segmented in the browser by runtime/browser/segment.ts, shown in
 * NiiVue with the segmentation overlaid per label (the dataset's names and colours), and offered
 * for download. Nothing leaves the machine.
 *
 * `?backend=webgpu|webgl|wasm|cpu` forces a backend (default: the first that works of WebGPU,
 * WebGL, wasm, cpu). For tests, `window.mnxc` holds the state: `ready`, `result` ({backend,
 * seconds, counts, windows, passes}) and `error`.
 */
import { Niivue, NVImage, SLICE_TYPE } from '@niivue/niivue';
import { backendNotes, useWebBackend, type WebBackendChoice } from '../../runtime/browser/index.js';
import { Segmenter, type SegmentProgress, type SiteManifest } from '../../runtime/browser/segment.js';

interface PageState {
  ready: boolean;
  backend?: string;
  result?: { backend: string; seconds: number; counts: Record<number, number>; windows: number; passes: number; file: string };
  error?: string;
}

const state: PageState = { ready: false };
(globalThis as unknown as { mnxc: PageState }).mnxc = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function setProgress(fraction: number, message: string, error = false): void {
  $('progress').style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
  const m = $('message');
  m.textContent = message;
  m.classList.toggle('error', error);
}

function fail(e: unknown): void {
  const message = (e as Error)?.message ?? String(e);
  state.error = message;
  setProgress(0, message, true);
  console.error(message);
}

const rgb = (c: [number, number, number]) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

function showLegend(manifest: SiteManifest, counts?: Record<number, number>, voxelMl?: number): void {
  const ul = $('legend');
  ul.replaceChildren(
    ...manifest.labels
      .filter((l) => l.value !== 0)
      .map((l) => {
        const li = document.createElement('li');
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = rgb(l.color);
        const name = document.createElement('span');
        name.textContent = `${l.value} ${l.name}`;
        li.append(sw, name);
        if (counts && voxelMl !== undefined) {
          const vol = document.createElement('span');
          vol.className = 'vol';
          vol.textContent = `${((counts[l.value] ?? 0) * voxelMl).toFixed(1)} ml`;
          li.append(vol);
        }
        return li;
      }),
  );
}

/** NiiVue's label colour map: the segmentation's values with the dataset's colours (background clear). */
function labelColormap(manifest: SiteManifest) {
  const max = Math.max(...manifest.labels.map((l) => l.value));
  const byValue = new Map(manifest.labels.map((l) => [l.value, l]));
  const R: number[] = [], G: number[] = [], B: number[] = [], A: number[] = [], I: number[] = [], labels: string[] = [];
  for (let v = 0; v <= max; v++) {
    const l = byValue.get(v);
    const c = l?.color ?? [128, 128, 128];
    R.push(c[0]);
    G.push(c[1]);
    B.push(c[2]);
    A.push(v === 0 ? 0 : 255);
    I.push(v);
    labels.push(l?.name ?? String(v));
  }
  return { R, G, B, A, I, labels, min: 0, max };
}

async function main(): Promise<void> {
  const choice = (new URLSearchParams(location.search).get('backend') ?? 'auto') as WebBackendChoice;
  const backend = await useWebBackend(choice);
  state.backend = backend;
  $('backend').textContent = backend;
  $('backend-notes').textContent = backendNotes.length ? `not used: ${backendNotes.join('; ')}` : '';
  const segmenter = await Segmenter.open(new URL('./', location.href).href);
  const m = segmenter.manifest;
  $('folds').textContent = `${m.folds.map((f) => f.fold).join(', ')} (${m.checkpoint})`;
  showLegend(m);

  const nv = new Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: false, isColorbar: false, crosshairWidth: 1, crosshairColor: [0.25, 0.55, 1, 1] });
  await nv.attachToCanvas($<HTMLCanvasElement>('gl'));
  nv.setSliceType(SLICE_TYPE.MULTIPLANAR);

  let download: { bytes: Uint8Array; name: string } | null = null;
  const downloadButton = $<HTMLButtonElement>('download');
  downloadButton.addEventListener('click', () => {
    if (!download) return;
    const url = URL.createObjectURL(new Blob([download.bytes as BlobPart], { type: 'application/gzip' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = download.name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });

  let busy = false;
  const run = async (fileList: FileList | File[]) => {
    if (busy) return;
    const files = Array.from(fileList as ArrayLike<File>).sort((a, b) => a.name.localeCompare(b.name));
    if (files.length === 0) return;
    busy = true;
    downloadButton.disabled = true;
    download = null;
    state.result = undefined;
    state.error = undefined;
    try {
      const inputs = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
      $('input').textContent = files.map((f) => f.name).join(', ');
      $('time').textContent = '…';
      // the input first, so it shows while the network runs
      nv.volumes.slice().forEach((v) => nv.removeVolume(v));
      // (what NiiVue cannot show, the segmentation's own reader reports with the file's problem below)
      const image = await NVImage.loadFromUrl({ url: inputs[0]!.bytes.slice().buffer, name: inputs[0]!.name }).catch(() => null);
      if (image) {
        nv.addVolume(image);
        $('placeholder').style.display = 'none';
      }
      const seg = await segmenter.segment(inputs, { onProgress: (p: SegmentProgress) => setProgress(p.fraction, p.message) });
      const base = files[0]!.name.replace(/(_\d{4})?\.nii(\.gz)?$/i, '');
      download = { bytes: seg.niftiGz(), name: `${base}_seg.nii.gz` };
      const overlay = await NVImage.loadFromUrl({ url: seg.nifti.slice().buffer, name: `${base}_seg.nii`, opacity: 0.5 });
      overlay.setColormapLabel(labelColormap(m));
      nv.addVolume(overlay);
      nv.updateGLVolume();
      const z = seg.image.spacing;
      const voxelMl = Math.abs((z[0] ?? 1) * (z[1] ?? 1) * (z[2] ?? 1)) / 1000;
      showLegend(m, seg.counts, voxelMl);
      $('time').textContent = `${seg.seconds.toFixed(1)} s (${seg.passes} network passes)`;
      setProgress(1, `done: ${seg.windows} window(s) × ${m.folds.length} fold(s) in ${seg.seconds.toFixed(1)} s`);
      downloadButton.disabled = false;
      state.result = { backend, seconds: seg.seconds, counts: seg.counts, windows: seg.windows, passes: seg.passes, file: download.name };
    } catch (e) {
      fail(e);
    } finally {
      busy = false;
    }
  };

  const input = $<HTMLInputElement>('file');
  input.addEventListener('change', () => input.files && run(input.files));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer?.files) void run(e.dataTransfer.files);
  });
  setProgress(0, `ready: drop a ${m.channels.length > 1 ? `case (${m.channels.join(', ')}: one file each, or one 4-D file)` : 'NIfTI file'}`);
  state.ready = true;
}

main().catch(fail);
