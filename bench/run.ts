/**
 * `npm run bench`: MedNeXt on every TF.js backend present, against PyTorch in the same run.
 *
 *   npm run bench -- [--full] [--backends tensorflow,native,wasm,cpu] [--reps N] [--json] [--compare FILE]
 *                    [--only forward,train,sliding,ops,case,baselines,scaling,threads] [--scaling] [--case-full]
 *                    [--cpu-models] [--mednext-only] [--no-torch] [--torch-malloc default|tuned|both] [--smoke] [--max-rss MiB]
 *                    [--save FILE] [--render FILE]
 *
 * Rows: MedNeXt-S k3 and B k5, nnU-Net's plain U-Net (examples/nnunet.mnx's default, the
 * 6-stage 3d_fullres network) and its ResEnc M (examples/resenc.mnx --variant M), all with deep
 * supervision and 3 classes, at 1×1×64³ (128³ with --full): forward, and a training step (runtime/train's Dice+CE over the deep-supervision heads,
 * global-norm clipping, AdamW); `mnxc predict`'s sliding window (runtime/infer, step 0.5,
 * Gaussian weighting, no mirroring) of a 160×160×96 volume with patch 64³ for S k3; and op rows
 * at 64³×32 (what MedNeXt-S's first stage runs). Each configuration runs in its own child
 * process (bench/child.ts) so its peak RSS is its own: one warm-up run, then --reps timed runs
 * (the sliding window: one window to warm up, one timed run). The cpu backend is 20–150× slower,
 * so it runs only the op rows unless --cpu-models. Where python3 can import torch,
 * bench/torch_mednext.py (MNXC_TORCH_BENCH overrides) times the same networks, and
 * bench/torch_sliding.py runs the same sliding window on its network, each twice: with glibc's
 * defaults and with glibc tuned to keep freed memory (TORCH_MALLOC; --torch-malloc picks one).
 * The `case` row (bench/case.ts) is what a user waits for: `mnxc predict`'s steps on a CT-sized scan
 * (512×512×200 int16 at 0.8×0.8×2.5 mm → 1 mm, MedNeXt-S k3, patch 128³, step 0.5), each part
 * measured once, the 1- and 5-fold totals with and without mirroring computed from them and
 * labelled so; --case-full also measures the whole case for one fold without mirroring. PyTorch
 * runs the same (bench/torch_sliding.py --case, nnU-Net's resampling and export). The case row runs
 * on tensorflow and native unless --backends names others. --scaling adds the `scaling` group
 * (MedNeXt-S k3 forward and training step at 32³, 64³, 96³, 128³: time and peak RSS against
 * voxels) and the `threads` group (64³ on 1 and on 2 threads), for mnxc and PyTorch side by side.
 * --save FILE writes the report (as --json) after every row, so a run stopped early keeps what it
 * measured (marked PARTIAL); --render FILE prints the tables of such a file.
 * A child passing --max-rss MiB resident (default 75% of memory) is stopped and reported.
 * --smoke runs everything on examples/tiny.mnx at toy sizes in one child (for the test suite).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CT_CASE, caseTotal, type CaseParts } from './case.js';
import { OP_CASES, type CaseSpec, type Triple } from './cases.js';
import { RESULT_MARK, type CaseResult } from './child.js';
import { asReport, caseLabel, renderComparison, renderTable, type CaseTotal, type Report, type Row } from './report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BACKENDS = ['tensorflow', 'native', 'wasm', 'cpu'];
const GROUPS = ['forward', 'train', 'sliding', 'ops', 'case', 'baselines', 'scaling', 'threads'];
/** What runs without --only: the baselines, scaling and threads groups are asked for by name (minutes per backend; --scaling runs the last two). */
const DEFAULT_GROUPS = ['forward', 'train', 'sliding', 'ops', 'case'];
/** The backends the case, scaling and threads groups run on (wasm and cpu would take hours). */
const HEAVY_BACKENDS = ['tensorflow', 'native'];

/** --scaling: cube edges of the forward and training-step rows (MedNeXt-S k3). */
export const SCALING_SIZES = [32, 64, 96, 128];
/** The threading rows: MedNeXt-S k3 forward and training step at 64³ on 1 and on 2 threads. */
export const THREAD_COUNTS = [1, 2];

/**
 * Environment that holds a child to `threads` threads: the native addon's pool, TensorFlow's intra-
 * and inter-op pools and OpenMP (oneDNN), and PyTorch (torch_mednext.py --threads).
 */
export function threadEnv(threads: number | undefined): Record<string, string> {
  if (threads === undefined) return {};
  const n = String(threads);
  return { MNXC_NATIVE_THREADS: n, TF_NUM_INTRAOP_THREADS: n, TF_NUM_INTEROP_THREADS: n, OMP_NUM_THREADS: n };
}

/**
 * The MedNeXt paper's baselines (--only baselines; not in the default run; tensorflow and native): forward of each
 * paper configuration at 1×1×96³ (TransUNet: 1×1×224², its paper size), random weights.
 */
export const BASELINE_CASES: CaseSpec[] = [
  { kind: 'forward', spec: 'examples/baselines/paper/unetr_96.mnx', size: 96 },
  { kind: 'forward', spec: 'examples/baselines/paper/swin_unetr_48.mnx', size: 96 },
  { kind: 'forward', spec: 'examples/baselines/paper/uxnet.mnx', size: 96 },
  { kind: 'forward', spec: 'examples/baselines/nnformer.mnx', set: ['crop_size=[96, 96, 96]'], size: 96 },
  { kind: 'forward', spec: 'examples/baselines/paper/transbts.mnx', size: 96 },
  { kind: 'forward', spec: 'examples/baselines/paper/transunet_r50_vit_b16_224.mnx', size: 224, dims: 2 },
];

export interface BenchOptions {
  full?: boolean;
  backends?: string[];
  reps?: number;
  only?: string[];
  cpuModels?: boolean;
  /** Only MedNeXt's model rows (no nnU-Net U-Net or ResEnc rows: their dense 3-D convolutions take minutes on native). */
  mednextOnly?: boolean;
  torch?: boolean;
  smoke?: boolean;
  /** Which glibc setting PyTorch runs with (default both; see TORCH_MALLOC). */
  torchMalloc?: 'default' | 'tuned' | 'both';
  /** A child whose resident memory passes this is stopped (default 75% of the machine's memory). */
  maxRssMiB?: number;
  /** Write the report (JSON) here after every row, and at the end. */
  savePath?: string;
  /** The case row: measure the whole `predictCases` for one fold without mirroring too (tens of minutes). */
  caseFull?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** A child process's work: one backend, one or more cases. */
interface Job {
  backend: string;
  cases: CaseSpec[];
}

interface ModelConfig {
  variant: string;
  kernel: number;
}

const MODELS: ModelConfig[] = [
  { variant: 'S', kernel: 3 },
  { variant: 'B', kernel: 5 },
];

/** nnU-Net's networks beside MedNeXt (mnxc only: torch_mednext.py builds MedNeXt). */
const BASELINE_MODELS: Pick<CaseSpec, 'spec' | 'variant' | 'set'>[] = [
  { spec: 'examples/nnunet.mnx', set: ['num_classes=3', 'deep_supervision=true'] },
  { spec: 'examples/resenc.mnx', variant: 'M', set: ['num_classes=3', 'deep_supervision=true'] },
];

function modelCase(kind: string, m: ModelConfig, size: number): CaseSpec {
  return { kind, spec: 'examples/mednext.mnx', variant: m.variant, set: [`kernel_size=${m.kernel}`, 'n_classes=3', 'deep_supervision=true'], size };
}

/** The sliding-window row: MedNeXt-S k3 over a 160×160×96 volume, patch 64³, one timed run. */
function slidingCase(): CaseSpec {
  return { ...modelCase('sliding', MODELS[0]!, 64), volume: [160, 160, 96], patch: [64, 64, 64], reps: 1 };
}

/** The `case` row (bench/case.ts's CT_CASE); smoke: examples/tiny.mnx on a 24×24×10 scan at 1.25×1.25×3 mm → 1.25 mm, patch 16³. */
export function caseRow(mode: 'parts' | 'full', smoke = false): CaseSpec {
  if (smoke) {
    const set = ['n_classes=3'];
    const workload = { shape: [24, 24, 10] as Triple, spacing: [1.25, 1.25, 3] as Triple, target: 1.25, patch: 16, spec: 'examples/tiny.mnx', variant: undefined, set };
    return { kind: 'case', spec: 'examples/tiny.mnx', set, size: 16, mode, workload, timedWindows: 1, mirror: mode === 'parts', reps: 1 };
  }
  const w = CT_CASE;
  return { kind: 'case', spec: w.spec, variant: w.variant, set: w.set, size: w.patch, mode, timedWindows: 2, mirror: mode === 'parts', reps: 1 };
}

/** The scaling and threading rows' model cases (group-tagged so their labels differ from the main rows'). */
export function scalingCase(kind: 'forward' | 'train', size: number): CaseSpec {
  return { ...modelCase(kind, MODELS[0]!, size), group: 'scaling' };
}

export function threadCase(kind: 'forward' | 'train', threads: number, size = 64): CaseSpec {
  return { ...modelCase(kind, MODELS[0]!, size), group: 'threads', threads };
}

/** Every configuration to run, grouped into child processes. */
export function planJobs(o: BenchOptions): Job[] {
  const only = new Set(o.only ?? DEFAULT_GROUPS);
  const backends = o.backends ?? BACKENDS;
  if (o.smoke) {
    const tiny = { spec: 'examples/tiny.mnx', set: ['n_classes=3'], size: 16 };
    const cases: CaseSpec[] = [
      ...(['forward', 'train'] as const).filter((k) => only.has(k)).map((kind) => ({ kind, ...tiny })),
      ...(only.has('sliding') ? [{ kind: 'sliding', ...tiny, volume: [24, 24, 20] as CaseSpec['volume'], patch: [16, 16, 16] as CaseSpec['patch'] }] : []),
      ...(only.has('ops') ? OP_CASES.map((kind) => ({ kind, size: 8, channels: 4 })) : []),
      ...(only.has('scaling') ? [16, 32].flatMap((size) => (['forward', 'train'] as const).map((kind) => ({ kind, ...tiny, size, group: 'scaling' }))) : []),
    ];
    const jobs = backends.map((backend) => ({ backend, cases }));
    // Each in its own child: threads are set per process, and the case row's peak RSS is its own.
    for (const backend of backends) {
      if (only.has('threads')) for (const threads of THREAD_COUNTS) jobs.push({ backend, cases: [{ kind: 'forward', ...tiny, group: 'threads', threads }] });
      // the case row only when --only names it (it is several children's worth of work)
      if (o.only?.includes('case')) jobs.push({ backend, cases: [caseRow('parts', true)] });
      if (o.only?.includes('case') && o.caseFull) jobs.push({ backend, cases: [caseRow('full', true)] });
    }
    return jobs.filter((j) => j.cases.length > 0);
  }
  const size = o.full ? 128 : 64;
  const jobs: Job[] = [];
  for (const backend of backends) {
    const models = backend !== 'cpu' || o.cpuModels;
    if (models) {
      for (const m of MODELS) {
        if (only.has('forward')) jobs.push({ backend, cases: [modelCase('forward', m, size)] });
        if (only.has('train')) jobs.push({ backend, cases: [modelCase('train', m, size)] });
      }
      for (const m of o.mednextOnly ? [] : BASELINE_MODELS) {
        if (only.has('forward')) jobs.push({ backend, cases: [{ kind: 'forward', ...m, size }] });
        if (only.has('train')) jobs.push({ backend, cases: [{ kind: 'train', ...m, size }] });
      }
      if (only.has('sliding')) jobs.push({ backend, cases: [slidingCase()] });
    }
    if (only.has('ops')) for (const kind of OP_CASES) jobs.push({ backend, cases: [{ kind, size: 64, channels: 32 }] });
    // The heavy groups (minutes per row at these sizes; hours on wasm and cpu): tensorflow and native only.
    const heavy = HEAVY_BACKENDS.includes(backend);
    if (only.has('baselines') && heavy) for (const c of BASELINE_CASES) jobs.push({ backend, cases: [c] });
    if (only.has('case') && heavy) {
      jobs.push({ backend, cases: [caseRow('parts')] });
      if (o.caseFull) jobs.push({ backend, cases: [caseRow('full')] });
    }
    if (only.has('scaling') && heavy) for (const size of SCALING_SIZES) for (const kind of ['forward', 'train'] as const) jobs.push({ backend, cases: [scalingCase(kind, size)] });
    if (only.has('threads') && heavy) for (const threads of THREAD_COUNTS) for (const kind of ['forward', 'train'] as const) jobs.push({ backend, cases: [threadCase(kind, threads)] });
  }
  return jobs;
}

/** Runs one child; resolves with its results (an error row per case when it dies without any). */
function runJob(job: Job, reps: number, peakSize: number, maxRssMiB: number): Promise<CaseResult[]> {
  const threads = job.cases.find((c) => c.threads !== undefined)?.threads;
  const args = ['--import', 'tsx', join(ROOT, 'bench', 'child.ts'), '--backend', job.backend, '--reps', String(reps), '--peak-size', String(peakSize)];
  for (const c of job.cases) args.push('--case', JSON.stringify(c));
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2', ...threadEnv(threads) } });
    let out = '';
    let err = '';
    let overLimit = 0;
    // A configuration that outgrows memory would push the whole machine into swap or the OOM
    // killer: stop it at --max-rss instead (Linux: the child's VmRSS, polled).
    const watchdog = setInterval(() => {
      const rss = residentMiB(child.pid);
      if (rss !== null && rss > maxRssMiB) {
        overLimit = rss;
        child.kill('SIGKILL');
      }
    }, 250);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code, signal) => {
      clearInterval(watchdog);
      const results = out.split('\n').filter((l) => l.startsWith(RESULT_MARK)).map((l) => JSON.parse(l.slice(RESULT_MARK.length)) as CaseResult);
      if (results.length > 0) return done(results);
      const why = overLimit
        ? `stopped at ${overLimit.toFixed(0)} MiB resident (over --max-rss ${maxRssMiB.toFixed(0)} MiB)`
        : signal === 'SIGKILL'
          ? 'killed (out of memory?)'
          : lastLine(err) || `exit ${code ?? signal}`;
      done(job.cases.map((c) => ({ case: c, backend: job.backend, error: why })));
    });
  });
}

/** Resident memory of a process in MiB (Linux /proc), or null where unknown. */
function residentMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !/^(at |I0000|WARNING: All log)/.test(l));
  const e = lines.find((l) => /Error:/.test(l)) ?? lines[lines.length - 1] ?? '';
  return e.slice(0, 160);
}

function toRow(r: CaseResult & { peakGflops?: number }): Row {
  const label = caseLabel(r.case);
  const row: Row = { key: `${label} @ ${r.backend}`, label, backend: r.backend, case: r.case };
  if (r.error) return { ...row, error: r.error };
  if (r.case.kind === 'case') return { ...row, seconds: r.seconds, min: r.min, median: r.median, peakRssMiB: r.peakRssMiB, cpuSeconds: r.cpuSeconds, info: r.info, ...(r.parts ? { parts: r.parts, totals: caseTotals(r.parts) } : {}) };
  const gflops = r.flops! / r.min! / 1e9;
  return { ...row, seconds: r.seconds, min: r.min, median: r.median, flops: r.flops, gflops, peakGflops: r.peakGflops, sharePeak: r.peakGflops ? gflops / r.peakGflops : undefined, peakRssMiB: r.peakRssMiB, cpuSeconds: r.cpuSeconds, info: r.info };
}

/** The case row's totals, computed from its measured parts: 1 and 5 folds, without and with mirroring. */
export function caseTotals(p: CaseParts): CaseTotal[] {
  return [1, 5].flatMap((folds) => [false, true].filter((mirror) => !mirror || p.window_mirrored_s !== undefined).map((mirror) => ({ folds, mirror, seconds: caseTotal(p, folds, mirror) })));
}

/**
 * How PyTorch's processes run. glibc hands allocations above its mmap threshold back to the
 * kernel on free, so every forward pass page-faults its activations in again; on this project's
 * VMs that doubles PyTorch's time. `tuned` keeps freed memory for reuse (what the native backend
 * sets for itself, and what jemalloc/tcmalloc give PyTorch): the honest best case to compare with.
 */
export interface TorchMalloc {
  name: 'default' | 'tuned';
  env: Record<string, string>;
  /** Row key suffix and backend label suffix. */
  key: string;
  label: string;
}

export const TORCH_MALLOC: TorchMalloc[] = [
  { name: 'default', env: {}, key: 'torch', label: '' },
  { name: 'tuned', env: { MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: String(2 ** 30) }, key: 'torch-tuned', label: ', glibc tuned' },
];

/** bench/torch_mednext.py when python3 can import torch; otherwise why not. */
function torchScript(): { script: string } | { why: string } {
  const script = process.env.MNXC_TORCH_BENCH ?? resolve(ROOT, 'bench', 'torch_mednext.py');
  if (!existsSync(script)) return { why: `no PyTorch benchmark script (${process.env.MNXC_TORCH_BENCH ? 'MNXC_TORCH_BENCH' : 'bench/torch_mednext.py'} missing)` };
  const probe = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 });
  if (probe.status !== 0) return { why: 'python3 cannot import torch' };
  return { script };
}

/**
 * Runs a PyTorch benchmark script with `malloc`'s environment; resolves to its last stdout line
 * parsed as JSON, or to the reason it printed none (its last stderr line).
 */
function runPython(args: string[], malloc: TorchMalloc, script: string, threads?: number): Promise<{ json: unknown } | { error: string }> {
  return new Promise((done) => {
    const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...malloc.env, ...threadEnv(threads) } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', () => {
      try {
        done({ json: JSON.parse(out.trim().split('\n').pop()!) });
      } catch {
        done({ error: lastLine(err) || `${script} printed no result` });
      }
    });
  });
}

/** A PyTorch row for case `c`, before its numbers. */
function torchRow(c: CaseSpec, malloc: TorchMalloc): Row {
  const label = caseLabel(c);
  return { key: `${label} @ ${malloc.key}`, label, backend: `torch${malloc.label}`, case: c };
}

/**
 * torch_mednext.py's forward and training rows for model `m` at `size`³ (`group`/`threads`: the
 * scaling and threading tables' copies, run with that many torch threads).
 */
async function runTorch(script: string, m: ModelConfig, size: number, reps: number, malloc: TorchMalloc, group?: { group: string; threads?: number }): Promise<Row[]> {
  const args = [script, '--variant', m.variant, '--kernel', String(m.kernel), '--size', String(size), '--repeat', String(reps)];
  if (group?.threads !== undefined) args.push('--threads', String(group.threads));
  const r = await runPython(args, malloc, 'torch_mednext.py', group?.threads);
  return (['forward', 'train'] as const).map((kind) => {
    const row = torchRow({ ...modelCase(kind, m, size), ...group }, malloc);
    if ('error' in r) return { ...row, error: r.error };
    const j = r.json as { engine: string; forward_s: { min: number; median: number }; train_step_s: { min: number; median: number }; peak_rss_mb: number };
    const t = kind === 'forward' ? j.forward_s : j.train_step_s;
    return { ...row, backend: j.engine + malloc.label, min: t.min, median: t.median, peakRssMiB: j.peak_rss_mb };
  });
}

/** bench/torch_sliding.py --case: the case row on the PyTorch network (parts, or with `full` the whole fold). */
async function runTorchCase(c: CaseSpec, malloc: TorchMalloc): Promise<Row> {
  const w = { ...CT_CASE, ...c.workload };
  const args = [join(ROOT, 'bench', 'torch_sliding.py'), '--case', '--variant', w.variant ?? 'S', '--kernel', setting(c, 'kernel_size') ?? '3', '--classes', String(w.classes)];
  if (setting(c, 'deep_supervision') !== 'true') args.push('--no-deep-supervision');
  args.push('--case-shape', w.shape.join(','), '--case-spacing', w.spacing.join(','), '--case-target', String(w.target), '--patch', String(w.patch), '--step', String(w.step), '--case-windows', String(c.timedWindows ?? 2));
  if (c.mode === 'full') args.push('--case-full');
  const r = await runPython(args, malloc, 'torch_sliding.py');
  const row = torchRow(c, malloc);
  if ('error' in r) return { ...row, error: r.error };
  const j = r.json as { engine: string; parts: CaseParts; seconds: number; cpu_s: number; peak_rss_mb: number };
  const base = { ...row, backend: j.engine + malloc.label, min: j.seconds, median: j.seconds, seconds: [j.seconds], peakRssMiB: j.peak_rss_mb, cpuSeconds: j.cpu_s, info: { windows: j.parts.windows } };
  if (c.mode === 'full') return { ...base, info: { ...base.info, per_window_s: Number(j.parts.window_s.toFixed(3)) } };
  return { ...base, parts: j.parts, totals: caseTotals(j.parts) };
}

/** `--set` value of a model case (`kernel_size=3` → '3'). */
function setting(c: CaseSpec, name: string): string | undefined {
  return (c.set ?? []).find((s) => s.startsWith(`${name}=`))?.slice(name.length + 1);
}

/**
 * bench/torch_sliding.py: the same sliding window (window positions, Gaussian, accumulation) on
 * torch_mednext.py's network (`mednext`), one window to warm up and the case's timed runs.
 */
async function runTorchSliding(mednext: string, c: CaseSpec, reps: number, malloc: TorchMalloc): Promise<Row> {
  const args = [join(ROOT, 'bench', 'torch_sliding.py'), '--mednext', mednext, '--variant', c.variant!, '--kernel', setting(c, 'kernel_size')!, '--classes', setting(c, 'n_classes')!];
  if (setting(c, 'deep_supervision') !== 'true') args.push('--no-deep-supervision');
  args.push('--volume', c.volume!.join(','), '--patch', c.patch!.join(','), '--step', '0.5', '--repeat', String(c.reps ?? reps));
  const r = await runPython(args, malloc, 'torch_sliding.py');
  const row = torchRow(c, malloc);
  if ('error' in r) return { ...row, error: r.error };
  const j = r.json as { engine: string; windows: number; sliding_s: { min: number; median: number }; peak_rss_mb: number };
  return { ...row, backend: j.engine + malloc.label, min: j.sliding_s.min, median: j.sliding_s.median, peakRssMiB: j.peak_rss_mb, info: { windows: j.windows } };
}

export async function runBench(o: BenchOptions): Promise<Report> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const reps = o.reps ?? (o.smoke ? 1 : 3);
  const notes: string[] = [];
  const loadBefore = loadavg();
  const rows: Row[] = [];
  const snapshot = (partial: boolean): Report => ({ version: 1, date: new Date().toISOString(), machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.versions.node, loadBefore, loadAfter: loadavg() }, notes: partial ? [...notes, 'PARTIAL: the run had not finished when this was saved.'] : notes, rows: [...rows].sort((x, y) => order(x) - order(y)) });
  // --save: the report so far after every row, so a run stopped early still leaves what it measured
  const save = (partial: boolean) => {
    if (o.savePath) writeFileAtomic(o.savePath, `${JSON.stringify(snapshot(partial), null, 2)}\n`);
  };
  const push = (...r: Row[]) => {
    rows.push(...r);
    save(true);
  };
  const jobs = planJobs(o);
  const backends = o.backends ?? BACKENDS;
  if (backends.includes('cpu') && !o.cpuModels && !o.smoke) notes.push('cpu: op rows only (whole-model rows take minutes on cpu; --cpu-models runs them).');
  if (o.smoke) notes.push('smoke mode: examples/tiny.mnx at toy sizes, every case in one child (peak RSS cumulative).');
  notes.push('FLOPs as `mnxc summary` counts them (2·MACs + one per output element of other ops); training step and fwd+bwd rows count 3× forward.');
  const only = new Set(o.only ?? DEFAULT_GROUPS);
  const models = backends.some((b) => b !== 'cpu') || o.cpuModels;
  const torchSliding = only.has('sliding') && models;
  const heavyGroups = ['case', 'scaling', 'threads'].filter((g) => only.has(g));
  if (heavyGroups.length > 0) notes.push(...groupNotes(heavyGroups, o));
  if (only.has('baselines') && !o.smoke) notes.push(BASELINES_TORCH_NOTE);
  const runTorchToo = o.torch !== false && !o.smoke && (only.has('forward') || only.has('train') || torchSliding || heavyGroups.length > 0);
  const t = runTorchToo ? torchScript() : undefined;
  if (t && 'why' in t) notes.push(`PyTorch: not run (${t.why}).`);
  const script = t && 'script' in t ? t.script : undefined;
  const beside = (tr: Row, malloc: TorchMalloc) => {
    for (const r of rows) {
      if (r.label !== tr.label || r.min === undefined || tr.min === undefined || r.backend.startsWith('torch')) continue;
      if (malloc.name === 'default') r.vsTorch = r.min / tr.min;
      else r.vsTorchTuned = r.min / tr.min;
    }
  };
  const mallocs = TORCH_MALLOC.filter((m) => (o.torchMalloc ?? 'both') === 'both' || m.name === o.torchMalloc);
  // The heavy groups run PyTorch once, with glibc tuned (the fair best case) where that is among the settings asked for.
  const heavyMalloc = mallocs.find((m) => m.name === 'tuned') ?? mallocs[0]!;

  /** PyTorch's rows of one phase, right after mnxc's (so a run stopped early has both sides of what it finished). */
  const torchPhase = async (phase: string) => {
    if (!script) return;
    if (phase === 'main') {
      for (const malloc of mallocs) {
        if (only.has('forward') || only.has('train')) {
          const size = o.full ? 128 : 64;
          for (const m of MODELS) {
            log(`torch (glibc ${malloc.name}): MedNeXt-${m.variant} k${m.kernel} ${size}³`);
            const torchRows = await runTorch(script, m, size, reps, malloc);
            for (const tr of torchRows) {
              beside(tr, malloc);
              if ((tr.case!.kind === 'forward' && only.has('forward')) || (tr.case!.kind === 'train' && only.has('train'))) push(tr);
            }
          }
        }
        if (torchSliding) {
          const c = slidingCase();
          log(`torch (glibc ${malloc.name}): ${caseLabel(c)}`);
          const tr = await runTorchSliding(script, c, reps, malloc);
          log(`  ${tr.error ? `n/a: ${tr.error}` : `min ${tr.min!.toFixed(3)} s, ${tr.peakRssMiB!.toFixed(0)} MiB`}`);
          beside(tr, malloc);
          push(tr);
        }
      }
    }
    if (phase === 'case') {
      for (const c of [caseRow('parts'), ...(o.caseFull ? [caseRow('full')] : [])]) {
        log(`torch (glibc ${heavyMalloc.name}): ${caseLabel(c)}`);
        const tr = await runTorchCase(c, heavyMalloc);
        log(`  ${tr.error ? `n/a: ${tr.error}` : `${tr.min!.toFixed(1)} s, ${tr.peakRssMiB!.toFixed(0)} MiB`}`);
        push(tr);
      }
    }
    if (phase === 'scaling') {
      for (const size of SCALING_SIZES) {
        log(`torch (glibc ${heavyMalloc.name}): scaling, MedNeXt-S k3 ${size}³`);
        for (const tr of await runTorch(script, MODELS[0]!, size, reps, heavyMalloc, { group: 'scaling' })) (beside(tr, heavyMalloc), push(tr));
      }
    }
    if (phase === 'threads') {
      for (const threads of THREAD_COUNTS) {
        log(`torch (glibc ${heavyMalloc.name}): MedNeXt-S k3 64³, ${threads} thread(s)`);
        for (const tr of await runTorch(script, MODELS[0]!, 64, reps, heavyMalloc, { group: 'threads', threads })) (beside(tr, heavyMalloc), push(tr));
      }
    }
  };
  if (script) {
    if (heavyGroups.length > 0) notes.push(`PyTorch in the ${heavyGroups.join(', ')} table(s): glibc ${heavyMalloc.name}, one run per configuration.`);
    if (only.has('forward') || only.has('train')) notes.push("PyTorch: torch_mednext.py, same networks and input; its training step's loss is the mean of the heads' outputs (not Dice+CE), and its first timed run is not a warm-up; peak RSS is that of its whole process (forward and training).");
    if (torchSliding) notes.push('PyTorch sliding window: bench/torch_sliding.py on torch_mednext.py\'s network, the same windows, Gaussian and float32 accumulation of softmax × Gaussian, one window to warm up, no mirroring.');
    if (mallocs.some((m) => m.name === 'tuned')) notes.push(`glibc tuned: PyTorch run with ${Object.entries(TORCH_MALLOC[1]!.env).map(([k, v]) => `${k}=${v}`).join(' ')} (freed memory kept for reuse instead of unmapped; default glibc makes PyTorch page-fault its activations in on every pass).`);
    notes.push('÷ PyTorch: mnxc min ÷ PyTorch min (÷ tuned: against PyTorch with glibc tuned); below 1 is faster than PyTorch.');
  }

  // Phase by phase (the 64³ rows, the case, scaling, threads), mnxc's backends then PyTorch.
  const phaseOf = (j: Job) => (j.cases[0]!.kind === 'case' ? 'case' : (j.cases[0]!.group ?? 'main'));
  let done = 0;
  for (const phase of ['main', 'case', 'scaling', 'threads']) {
    for (const job of jobs.filter((j) => phaseOf(j) === phase)) {
      log(`[${++done}/${jobs.length}] ${job.backend}: ${job.cases.map(caseLabel).join(', ')}`);
      for (const r of await runJob(job, reps, o.smoke ? 128 : 1024, o.maxRssMiB ?? (0.75 * totalmem()) / 2 ** 20)) {
        const row = toRow(r);
        push(row);
        log(`  ${row.label}: ${row.error ? `n/a: ${row.error}` : `min ${row.min!.toFixed(3)} s, median ${row.median!.toFixed(3)} s, ${row.gflops === undefined ? '–' : row.gflops.toFixed(1)} GFLOP/s, ${row.peakRssMiB!.toFixed(0)} MiB`}`);
      }
    }
    await torchPhase(phase);
  }
  const report = snapshot(false);
  save(false);
  return report;
}

/**
 * Why the baselines have no PyTorch column: their official modules (MONAI's UNETR and SwinUNETR, the
 * authors' repositories for 3D UX-Net, nnFormer, TransBTS, TransUNet) are not installable where this
 * bench runs (its package index holds no monai), and a restatement would not be the official module.
 */
export const BASELINES_TORCH_NOTE =
  'baselines (tensorflow and native): no PyTorch column — the official modules (MONAI\'s UNETR and SwinUNETR, the authors\' repositories for 3D UX-Net, nnFormer, TransBTS, TransUNet) cannot be installed here (the package index has no monai), and torch_mednext.py restates MedNeXt only.';

/** What the case, scaling and threads tables measure, and what they do not. */
function groupNotes(groups: string[], o: BenchOptions): string[] {
  const notes: string[] = [];
  if (groups.includes('case')) {
    const w = CT_CASE;
    notes.push(
      `case: \`mnxc predict\`'s steps (bench/case.ts) on a synthetic int16 scan ${w.shape.join('×')} at ${w.spacing.join('×')} mm (.nii.gz), plans with target spacing ${w.target} mm, patch ${w.patch}³, step ${w.step}, random weights. ` +
        'Each part is measured once (a window: median of 2 after one warm-up; with mirroring: one window of 8 passes); the 1- and 5-fold totals with and without mirroring are COMPUTED from those measured parts ' +
        '(read + preprocess + folds × (load weights + windows × (window + accumulate)) + mean + export), not measured' +
        (o.caseFull ? '; the row marked measured ran `predictCases` on the whole case (1 fold, no mirroring).' : ' (--case-full measures the whole case for 1 fold without mirroring: tens of minutes per backend).') +
        ' Peak RSS: the process over all parts (every full-size buffer of a real case is allocated).',
    );
    if (o.torch !== false) notes.push('PyTorch case: bench/torch_sliding.py --case: nnU-Net v1\'s resampling (skimage resize order 3 per slice, map_coordinates order 0 along z), z-score, the same windows, Gaussian and accumulation on torch_mednext.py\'s network, export as save_segmentation_nifti_from_softmax (order 1 in-plane, order 0 along z, argmax, gzipped NIfTI).');
  }
  if (groups.includes('scaling')) notes.push(`scaling: MedNeXt-S k3 (deep supervision, 3 classes) forward and training step at ${SCALING_SIZES.map((s) => `${s}³`).join(', ')}, each size in its own process; peak RSS per process.`);
  if (groups.includes('threads'))
    notes.push('threads: MedNeXt-S k3 at 64³ held to 1 and to 2 threads (MNXC_NATIVE_THREADS, TF_NUM_INTRAOP_THREADS/TF_NUM_INTEROP_THREADS, OMP_NUM_THREADS; PyTorch torch.set_num_threads); efficiency = (1-thread time ÷ 2-thread time) ÷ 2; cores busy = CPU seconds ÷ wall seconds of a timed run (mnxc rows).');
  return notes;
}

/** Whole-model rows first (by label), PyTorch beside mnxc's backends; op rows after. */
function order(r: Row): number {
  const kinds = ['forward', 'train', 'sliding', ...OP_CASES];
  const k = kinds.indexOf(r.case?.kind ?? '');
  const spec = r.case?.spec ?? '';
  const model = spec.endsWith('resenc.mnx') ? 3 : spec.endsWith('nnunet.mnx') ? 2 : r.case?.variant === 'B' ? 1 : 0;
  const backend = BACKENDS.indexOf(r.backend);
  return (r.case?.spec ? model * 1000 : 10_000) + k * 10 + (backend < 0 ? 9 : backend);
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        full: { type: 'boolean', default: false },
        backends: { type: 'string' },
        reps: { type: 'string' },
        only: { type: 'string' },
        'cpu-models': { type: 'boolean', default: false },
        'mednext-only': { type: 'boolean', default: false },
        'no-torch': { type: 'boolean', default: false },
        'torch-malloc': { type: 'string', default: 'both' },
        smoke: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        compare: { type: 'string' },
        'max-rss': { type: 'string' },
        scaling: { type: 'boolean', default: false },
        'case-full': { type: 'boolean', default: false },
        save: { type: 'string' },
        render: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '') + '\n');
    return 0;
  }
  const list = (v: string | undefined, allowed: string[], what: string) => {
    if (v === undefined) return undefined;
    const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = xs.filter((x) => !allowed.includes(x));
    if (bad.length > 0 || xs.length === 0) throw new Error(`${what}: '${bad.join(',') || v}' is not one of ${allowed.join(', ')}`);
    return xs;
  };
  let previous: Report | undefined;
  let options: BenchOptions;
  const readReport = (path: string, flag: string): Report => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      throw new Error(`${flag}: cannot read ${path}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`${flag}: ${path} is not JSON`);
    }
    return asReport(parsed, path);
  };
  if (values.render) {
    // --render FILE: the tables of a saved report (--save or --json), nothing run
    try {
      process.stdout.write(`${renderTable(readReport(values.render, '--render'))}\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`bench: ${(e as Error).message}\n`);
      return 2;
    }
  }
  try {
    const reps = values.reps === undefined ? undefined : Number(values.reps);
    if (reps !== undefined && !(Number.isInteger(reps) && reps >= 1)) throw new Error(`--reps: expected a positive integer, got '${values.reps}'`);
    const maxRss = values['max-rss'] === undefined ? undefined : Number(values['max-rss']);
    if (maxRss !== undefined && !(maxRss > 0)) throw new Error(`--max-rss: expected MiB > 0, got '${values['max-rss']}'`);
    const torchMalloc = values['torch-malloc'] as BenchOptions['torchMalloc'];
    if (!['default', 'tuned', 'both'].includes(torchMalloc!)) throw new Error(`--torch-malloc: '${torchMalloc}' is not one of default, tuned, both`);
    let only = list(values.only, GROUPS, '--only');
    if (values.scaling) only = [...new Set([...(only ?? DEFAULT_GROUPS), 'scaling', 'threads'])];
    options = { maxRssMiB: maxRss, full: values.full, backends: list(values.backends, BACKENDS, '--backends'), only, caseFull: values['case-full'], savePath: values.save, reps, cpuModels: values['cpu-models'], mednextOnly: values['mednext-only'], torch: !values['no-torch'], torchMalloc, smoke: values.smoke };
    if (values.compare) previous = readReport(values.compare, '--compare');
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    return 2;
  }
  const report = await runBench(options);
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  const text = renderTable(report) + (previous ? `\n\n${renderComparison(report, previous)}` : '');
  (values.json ? process.stderr : process.stdout).write(`${text}\n`);
  return report.rows.some((r) => !r.error) ? 0 : 1;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) process.exitCode = await main(process.argv.slice(2));
