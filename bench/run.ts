/**
 * `npm run bench`: MedNeXt on every TF.js backend present, against PyTorch in the same run.
 *
 *   npm run bench -- [--sizes 64,128 | --full] [--backends tensorflow,native,wasm,cpu] [--reps N | --reps N,M] [--json]
 *                    [--compare FILE] [--only forward,train,sliding,ops,case,baselines,scaling,threads] [--scaling]
 *                    [--case-full] [--cpu-models] [--mednext-only] [--no-torch] [--torch-malloc default|tuned|both]
 *                    [--smoke] [--max-rss MiB] [--save FILE] [--render FILE] [--plan]
 *
 * Rows: MedNeXt-S k3 and B k5, nnU-Net's plain U-Net (examples/nnunet.mnx's default, the
 * 6-stage 3d_fullres network) and its ResEnc M (examples/resenc.mnx --variant M), all with deep
 * supervision and 3 classes, at 1×1×S³ for each S of --sizes (default 64; --full is --sizes 128):
 * forward, and a training step (runtime/train's Dice+CE over the deep-supervision heads,
 * global-norm clipping, AdamW); `mnxc predict`'s sliding window (runtime/infer, step 0.5,
 * Gaussian weighting, no mirroring) for MedNeXt-S k3 and B k5 with patch S³ (at 64³ over a
 * 160×160×96 volume, 32 windows; at other sizes over a cube of 1.5 S, 8 windows); and op rows
 * at 64³×32 (what MedNeXt-S's first stage runs). The report has one table per size. Each
 * configuration runs in its own child process (bench/child.ts) so its peak RSS is its own: one
 * warm-up run, then --reps timed runs (--reps 3,1 with --sizes 64,128: 3 at 64³, 1 at 128³; the
 * sliding window: one window to warm up, one timed run). The cpu backend is 20–150× slower,
 * so it runs only the op rows unless --cpu-models. Where python3 can import torch,
 * bench/torch_mednext.py (MNXC_TORCH_BENCH overrides) times the same networks (one warm-up, then
 * the same timed runs), and bench/torch_sliding.py runs the same sliding windows on its network,
 * each twice: with glibc's defaults and with glibc tuned to keep freed memory (TORCH_MALLOC;
 * --torch-malloc picks one). The report opens with the speed targets: each MedNeXt row's
 * mnxc ÷ PyTorch (glibc tuned) against TARGETS (bench/report.ts: native ≤ 1.0×, tensorflow ≤ 0.8×).
 * The `case` row (bench/case.ts) is what a user waits for: `mnxc predict`'s steps on a CT-sized scan
 * (512×512×200 int16 at 0.8×0.8×2.5 mm → 1 mm, MedNeXt-S k3, patch 128³, step 0.5), each part
 * measured once, the 1- and 5-fold totals with and without mirroring computed from them and
 * labelled so; --case-full also measures the whole case for one fold without mirroring. PyTorch
 * runs the same (bench/torch_sliding.py --case, nnU-Net's resampling and export). The case row runs
 * on tensorflow and native unless --backends names others. --scaling adds the `scaling` group
 * (MedNeXt-S k3 forward and training step at 32³, 64³, 96³, 128³: time and peak RSS against
 * voxels; a size --sizes already runs with forward and train is taken from those rows, not run
 * twice) and the `threads` group (64³ on 1 and on 2 threads), for mnxc and PyTorch side by side;
 * --only names groups one by one (PyTorch runs only the groups named).
 * --save FILE writes the report (as --json) after every row, so a run stopped early keeps what it
 * measured (marked PARTIAL); --render FILE prints the tables of such a file. --plan prints what a
 * run would start (each child and PyTorch process, in order) and runs nothing.
 * A child (mnxc's or PyTorch's) passing --max-rss MiB resident (default 75% of memory) is stopped and reported.
 * --smoke runs everything on examples/tiny.mnx at toy sizes in one child (for the test suite).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CT_CASE, caseTotal, type CaseParts } from './case.js';
import { CASE_TITLES, OP_CASES, type CaseSpec, type Triple } from './cases.js';
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
  /** Cube edges of the forward, training-step and sliding-window rows (default [64]; --full: [128]). */
  sizes?: number[];
  backends?: string[];
  /** Timed runs per configuration; a list gives one count per entry of `sizes` (see repsFor). */
  reps?: number | number[];
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
export interface Job {
  backend: string;
  cases: CaseSpec[];
  /** When it runs (phaseOrder): `main:SIZE`, `ops`, `baselines`, `case`, `scaling`, `threads`. */
  phase: string;
}

export interface ModelConfig {
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

/**
 * The sliding-window row of model `m` with patch `size`³, one timed run: at 64³ over a 160×160×96
 * volume (32 windows); at other sizes over a cube of 1.5 × the patch (2 windows per axis, 8 in all:
 * at 128³ a 192³ volume, so the row stays minutes, not tens of minutes).
 */
export function slidingCase(m: ModelConfig = MODELS[0]!, size = 64): CaseSpec {
  const volume: Triple = size === 64 ? [160, 160, 96] : [1.5 * size, 1.5 * size, 1.5 * size];
  return { ...modelCase('sliding', m, size), volume, patch: [size, size, size], reps: 1 };
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

/** The model rows' cube edges: --sizes, else 128 with --full, else 64. */
export function mainSizes(o: BenchOptions): number[] {
  return o.sizes ?? [o.full ? 128 : 64];
}

/**
 * Timed runs at cube edge `size`: --reps N everywhere; a list (one per --sizes entry) gives each
 * main size its own, and any other size (the scaling rows) the count of the largest main size not
 * above it (the first entry below them all).
 */
export function repsFor(o: BenchOptions, size: number): number {
  const r = o.reps ?? (o.smoke ? 1 : 3);
  if (typeof r === 'number') return r;
  const pairs = mainSizes(o).map((s, i) => [s, r[i] ?? r[r.length - 1]!] as const).sort((x, y) => x[0] - y[0]);
  return [...pairs].reverse().find(([s]) => s <= size)?.[1] ?? pairs[0]![1];
}

/**
 * Whether the scaling table takes its 64³/128³ (any --sizes entry among SCALING_SIZES) rows from the
 * main rows instead of measuring MedNeXt-S k3 there a second time: when both forward and train run.
 */
function scalingFromMain(o: BenchOptions, only: Set<string>): number[] {
  if (!only.has('scaling') || !only.has('forward') || !only.has('train')) return [];
  return mainSizes(o).filter((s) => SCALING_SIZES.includes(s));
}

/** The order of the phases: each size's model rows (mnxc, then PyTorch), ops, baselines, case, scaling, threads. */
export function phaseOrder(o: BenchOptions): string[] {
  return [...(o.smoke ? [16] : mainSizes(o)).map((s) => `main:${s}`), 'ops', 'baselines', 'case', 'scaling', 'threads'];
}

/** Every configuration to run, grouped into child processes, in the order they run. */
export function planJobs(o: BenchOptions): Job[] {
  const only = new Set(o.only ?? DEFAULT_GROUPS);
  const backends = o.backends ?? BACKENDS;
  const order = phaseOrder(o);
  const inOrder = (jobs: Job[]) => order.flatMap((phase) => jobs.filter((j) => j.phase === phase));
  if (o.smoke) {
    const tiny = { spec: 'examples/tiny.mnx', set: ['n_classes=3'], size: 16 };
    const cases: CaseSpec[] = [
      ...(['forward', 'train'] as const).filter((k) => only.has(k)).map((kind) => ({ kind, ...tiny })),
      ...(only.has('sliding') ? [{ kind: 'sliding', ...tiny, volume: [24, 24, 20] as CaseSpec['volume'], patch: [16, 16, 16] as CaseSpec['patch'] }] : []),
      ...(only.has('ops') ? OP_CASES.map((kind) => ({ kind, size: 8, channels: 4 })) : []),
      ...(only.has('scaling') ? [16, 32].flatMap((size) => (['forward', 'train'] as const).map((kind) => ({ kind, ...tiny, size, group: 'scaling' }))) : []),
    ];
    const jobs: Job[] = backends.map((backend) => ({ backend, cases, phase: 'main:16' }));
    // Each in its own child: threads are set per process, and the case row's peak RSS is its own.
    for (const backend of backends) {
      if (only.has('threads')) for (const threads of THREAD_COUNTS) jobs.push({ backend, cases: [{ kind: 'forward', ...tiny, group: 'threads', threads }], phase: 'threads' });
      // the case row only when --only names it (it is several children's worth of work)
      if (o.only?.includes('case')) jobs.push({ backend, cases: [caseRow('parts', true)], phase: 'case' });
      if (o.only?.includes('case') && o.caseFull) jobs.push({ backend, cases: [caseRow('full', true)], phase: 'case' });
    }
    return inOrder(jobs.filter((j) => j.cases.length > 0));
  }
  const list = Array.isArray(o.reps);
  const fromMain = scalingFromMain(o, only);
  const jobs: Job[] = [];
  for (const backend of backends) {
    const models = backend !== 'cpu' || o.cpuModels;
    const heavy = HEAVY_BACKENDS.includes(backend);
    for (const size of mainSizes(o)) {
      const phase = `main:${size}`;
      const reps = list ? { reps: repsFor(o, size) } : {};
      if (!models) continue;
      for (const m of MODELS) {
        // MedNeXt-S k3's rows double as the scaling table's at this size (scalingFromMain)
        const scaling = heavy && m === MODELS[0] && fromMain.includes(size) ? { scaling: true } : {};
        if (only.has('forward')) jobs.push({ backend, cases: [{ ...modelCase('forward', m, size), ...reps, ...scaling }], phase });
        if (only.has('train')) jobs.push({ backend, cases: [{ ...modelCase('train', m, size), ...reps, ...scaling }], phase });
      }
      for (const m of o.mednextOnly ? [] : BASELINE_MODELS) {
        if (only.has('forward')) jobs.push({ backend, cases: [{ kind: 'forward', ...m, size, ...reps }], phase });
        if (only.has('train')) jobs.push({ backend, cases: [{ kind: 'train', ...m, size, ...reps }], phase });
      }
      if (only.has('sliding')) for (const m of MODELS) jobs.push({ backend, cases: [slidingCase(m, size)], phase });
    }
    if (only.has('ops')) for (const kind of OP_CASES) jobs.push({ backend, cases: [{ kind, size: 64, channels: 32 }], phase: 'ops' });
    // The heavy groups (minutes per row at these sizes; hours on wasm and cpu): tensorflow and native only.
    if (only.has('baselines') && heavy) for (const c of BASELINE_CASES) jobs.push({ backend, cases: [c], phase: 'baselines' });
    if (only.has('case') && heavy) {
      jobs.push({ backend, cases: [caseRow('parts')], phase: 'case' });
      if (o.caseFull) jobs.push({ backend, cases: [caseRow('full')], phase: 'case' });
    }
    if (only.has('scaling') && heavy)
      for (const size of SCALING_SIZES.filter((s) => !fromMain.includes(s)))
        for (const kind of ['forward', 'train'] as const) jobs.push({ backend, cases: [{ ...scalingCase(kind, size), ...(list ? { reps: repsFor(o, size) } : {}) }], phase: 'scaling' });
    if (only.has('threads') && heavy) for (const threads of THREAD_COUNTS) for (const kind of ['forward', 'train'] as const) jobs.push({ backend, cases: [{ ...threadCase(kind, threads), ...(list ? { reps: repsFor(o, 64) } : {}) }], phase: 'threads' });
  }
  return inOrder(jobs);
}

/** One PyTorch process of the plan (bench/torch_mednext.py or bench/torch_sliding.py). */
export interface TorchRun {
  phase: string;
  /** `model`: torch_mednext.py's forward and training step; `sliding` and `case`: torch_sliding.py. */
  what: 'model' | 'sliding' | 'case';
  malloc: TorchMalloc;
  model?: ModelConfig;
  size?: number;
  reps?: number;
  /** The rows it reports (`model`: those of the kinds asked for). */
  kinds?: ('forward' | 'train')[];
  /** The scaling and threads tables' copies. */
  group?: { group: string; threads?: number };
  /** `model` rows that double as the scaling table's (scalingFromMain). */
  scaling?: boolean;
  case?: CaseSpec;
}

/**
 * Every PyTorch process to run, per phase, for the groups --only asks for (and none in smoke mode
 * or with --no-torch): the model rows at each size with each glibc setting asked for, the sliding
 * windows, and — only when named — the case, scaling and threads groups, with glibc tuned.
 */
export function planTorch(o: BenchOptions): TorchRun[] {
  if (o.torch === false || o.smoke) return [];
  const only = new Set(o.only ?? DEFAULT_GROUPS);
  const backends = o.backends ?? BACKENDS;
  const models = backends.some((b) => b !== 'cpu') || o.cpuModels;
  const heavy = backends.some((b) => HEAVY_BACKENDS.includes(b));
  const mallocs = TORCH_MALLOC.filter((m) => (o.torchMalloc ?? 'both') === 'both' || m.name === o.torchMalloc);
  // The heavy groups run PyTorch once, with glibc tuned (the fair best case) where that is among the settings asked for.
  const heavyMalloc = mallocs.find((m) => m.name === 'tuned') ?? mallocs[0]!;
  const fromMain = scalingFromMain(o, only);
  const kinds = (['forward', 'train'] as const).filter((k) => only.has(k));
  const runs: TorchRun[] = [];
  for (const size of models ? mainSizes(o) : []) {
    const phase = `main:${size}`;
    for (const malloc of mallocs) {
      if (kinds.length > 0) for (const m of MODELS) runs.push({ phase, what: 'model', malloc, model: m, size, reps: repsFor(o, size), kinds: [...kinds], ...(m === MODELS[0] && malloc === heavyMalloc && heavy && fromMain.includes(size) ? { scaling: true } : {}) });
      if (only.has('sliding')) for (const m of MODELS) runs.push({ phase, what: 'sliding', malloc, case: slidingCase(m, size) });
    }
  }
  if (!heavy) return runs;
  if (only.has('case')) for (const c of [caseRow('parts'), ...(o.caseFull ? [caseRow('full')] : [])]) runs.push({ phase: 'case', what: 'case', malloc: heavyMalloc, case: c });
  if (only.has('scaling'))
    for (const size of SCALING_SIZES.filter((s) => !fromMain.includes(s))) runs.push({ phase: 'scaling', what: 'model', malloc: heavyMalloc, model: MODELS[0]!, size, reps: repsFor(o, size), kinds: ['forward', 'train'], group: { group: 'scaling' } });
  if (only.has('threads'))
    for (const threads of THREAD_COUNTS) runs.push({ phase: 'threads', what: 'model', malloc: heavyMalloc, model: MODELS[0]!, size: 64, reps: repsFor(o, 64), kinds: ['forward', 'train'], group: { group: 'threads', threads } });
  return runs;
}

/** One line per child process and PyTorch process, in the order a run takes them (--plan). */
export function describePlan(o: BenchOptions): string {
  const jobs = planJobs(o);
  const torch = planTorch(o);
  const lines: string[] = [];
  for (const phase of phaseOrder(o)) {
    for (const j of jobs.filter((x) => x.phase === phase)) lines.push(`${phase}\t${j.backend}\t${j.cases.map((c) => `${caseLabel(c)} (${c.kind === 'case' || c.kind === 'sliding' ? 1 : (c.reps ?? repsFor(o, c.size))} timed)`).join(', ')}`);
    for (const t of torch.filter((x) => x.phase === phase)) {
      const what = t.what === 'model' ? caseLabel({ ...modelCase('forward', t.model!, t.size!), ...t.group }).replace(' forward ', ` ${t.kinds!.map((k) => CASE_TITLES[k]).join(' + ')} `) : caseLabel(t.case!);
      lines.push(`${phase}\ttorch (glibc ${t.malloc.name})\t${what}${t.what === 'model' ? ` (${t.reps} timed)` : ''}`);
    }
  }
  return lines.join('\n');
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
    const watchdog = watchRss(child, maxRssMiB);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code, signal) => {
      const overLimit = watchdog.stop();
      const results = out.split('\n').filter((l) => l.startsWith(RESULT_MARK)).map((l) => JSON.parse(l.slice(RESULT_MARK.length)) as CaseResult);
      if (results.length > 0) return done(results);
      const why = overLimit ? overRss(overLimit, maxRssMiB) : signal === 'SIGKILL' ? 'killed (out of memory?)' : lastLine(err) || `exit ${code ?? signal}`;
      done(job.cases.map((c) => ({ case: c, backend: job.backend, error: why })));
    });
  });
}

/**
 * A configuration that outgrows memory would push the whole machine into swap or the OOM killer
 * (other processes with it): stops `child` once its resident memory passes `maxRssMiB` (Linux: its
 * VmRSS, polled). `stop()` ends the watch and returns the resident MiB it was stopped at, or 0.
 */
function watchRss(child: ChildProcess, maxRssMiB: number): { stop: () => number } {
  let overLimit = 0;
  const timer = setInterval(() => {
    const rss = residentMiB(child.pid);
    if (rss !== null && rss > maxRssMiB) {
      overLimit = rss;
      child.kill('SIGKILL');
    }
  }, 250);
  return { stop: () => (clearInterval(timer), overLimit) };
}

const overRss = (rss: number, max: number) => `stopped at ${rss.toFixed(0)} MiB resident (over --max-rss ${max.toFixed(0)} MiB)`;

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
 * Runs a PyTorch benchmark script with `malloc`'s environment (stopped past `maxRssMiB` resident);
 * resolves to the last stdout line that parses as JSON, and why it stopped where it did not end
 * well (--max-rss, or its last stderr line when it printed no result).
 */
function runPython(args: string[], malloc: TorchMalloc, script: string, maxRssMiB: number, threads?: number): Promise<{ json?: unknown; error?: string }> {
  return new Promise((done) => {
    const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...malloc.env, ...threadEnv(threads) } });
    const watchdog = watchRss(child, maxRssMiB);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', () => {
      const overLimit = watchdog.stop();
      // the last JSON line it printed (torch_mednext.py prints its forward rows before training)
      let json: unknown;
      for (const line of out.trim().split('\n').reverse()) {
        try {
          json = JSON.parse(line);
          break;
        } catch {
          // not a result line
        }
      }
      const error = overLimit ? overRss(overLimit, maxRssMiB) : json === undefined ? lastLine(err) || `${script} printed no result` : undefined;
      done({ json, error });
    });
  });
}

/** A PyTorch row for case `c`, before its numbers. */
function torchRow(c: CaseSpec, malloc: TorchMalloc): Row {
  const label = caseLabel(c);
  return { key: `${label} @ ${malloc.key}`, label, backend: `torch${malloc.label}`, case: c };
}

/**
 * torch_mednext.py's forward and training rows of run `t` (`group`/`threads`: the scaling and
 * threading tables' copies, run with that many torch threads); the rows of `t.kinds`.
 */
async function runTorch(script: string, t: TorchRun, maxRssMiB: number): Promise<Row[]> {
  const m = t.model!;
  const threads = t.group?.threads;
  const args = [script, '--variant', m.variant, '--kernel', String(m.kernel), '--size', String(t.size), '--repeat', String(t.reps)];
  if (threads !== undefined) args.push('--threads', String(threads));
  const r = await runPython(args, t.malloc, 'torch_mednext.py', maxRssMiB, threads);
  const j = r.json as { engine: string; forward_s?: { min: number; median: number }; train_step_s?: { min: number; median: number }; peak_rss_mb: number; forward_peak_rss_mb?: number } | undefined;
  return t.kinds!.map((kind) => {
    const row = torchRow({ ...modelCase(kind, m, t.size!), ...t.group, ...(t.scaling ? { scaling: true } : {}) }, t.malloc);
    const x = kind === 'forward' ? j?.forward_s : j?.train_step_s;
    // a process stopped while training still has its forward rows
    if (!j || !x) return { ...row, error: r.error ?? 'torch_mednext.py printed no result' };
    return { ...row, backend: j.engine + t.malloc.label, min: x.min, median: x.median, peakRssMiB: kind === 'forward' ? (j.forward_peak_rss_mb ?? j.peak_rss_mb) : j.peak_rss_mb };
  });
}

/** bench/torch_sliding.py --case: the case row on the PyTorch network (parts, or with `full` the whole fold). */
async function runTorchCase(c: CaseSpec, malloc: TorchMalloc, maxRssMiB: number): Promise<Row> {
  const w = { ...CT_CASE, ...c.workload };
  const args = [join(ROOT, 'bench', 'torch_sliding.py'), '--case', '--variant', w.variant ?? 'S', '--kernel', setting(c, 'kernel_size') ?? '3', '--classes', String(w.classes)];
  if (setting(c, 'deep_supervision') !== 'true') args.push('--no-deep-supervision');
  args.push('--case-shape', w.shape.join(','), '--case-spacing', w.spacing.join(','), '--case-target', String(w.target), '--patch', String(w.patch), '--step', String(w.step), '--case-windows', String(c.timedWindows ?? 2));
  if (c.mode === 'full') args.push('--case-full');
  const r = await runPython(args, malloc, 'torch_sliding.py', maxRssMiB);
  const row = torchRow(c, malloc);
  if (r.error || !r.json) return { ...row, error: r.error };
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
async function runTorchSliding(mednext: string, c: CaseSpec, malloc: TorchMalloc, maxRssMiB: number): Promise<Row> {
  const args = [join(ROOT, 'bench', 'torch_sliding.py'), '--mednext', mednext, '--variant', c.variant!, '--kernel', setting(c, 'kernel_size')!, '--classes', setting(c, 'n_classes')!];
  if (setting(c, 'deep_supervision') !== 'true') args.push('--no-deep-supervision');
  args.push('--volume', c.volume!.join(','), '--patch', c.patch!.join(','), '--step', '0.5', '--repeat', String(c.reps ?? 1));
  const r = await runPython(args, malloc, 'torch_sliding.py', maxRssMiB);
  const row = torchRow(c, malloc);
  if (r.error || !r.json) return { ...row, error: r.error };
  const j = r.json as { engine: string; windows: number; sliding_s: { min: number; median: number }; peak_rss_mb: number };
  return { ...row, backend: j.engine + malloc.label, min: j.sliding_s.min, median: j.sliding_s.median, peakRssMiB: j.peak_rss_mb, info: { windows: j.windows } };
}

export async function runBench(o: BenchOptions): Promise<Report> {
  const t0 = performance.now();
  const elapsed = () => {
    const sec = Math.round((performance.now() - t0) / 1000);
    return `${String(Math.floor(sec / 60)).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')}`;
  };
  // progress lines with the minutes and seconds since the start
  const log = (l: string) => (o.log ?? ((x: string) => process.stderr.write(`${x}\n`)))(`[${elapsed()}] ${l}`);
  const reps = typeof o.reps === 'number' ? o.reps : o.smoke ? 1 : 3;
  const maxRss = o.maxRssMiB ?? (0.75 * totalmem()) / 2 ** 20;
  const notes: string[] = [];
  const started = new Date().toISOString();
  const loadBefore = loadavg();
  let loadPeak = loadBefore[0]!;
  const rows: Row[] = [];
  // wall time per phase and engine (mnxc's backends, PyTorch), for sizing the next run
  const wall: NonNullable<Report['wall']> = [];
  const timed = async <T>(phase: string, engine: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      const w = wall.find((x) => x.phase === phase && x.engine === engine) ?? (wall.push({ phase, engine, seconds: 0 }), wall[wall.length - 1]!);
      w.seconds += (performance.now() - t0) / 1000;
    }
  };
  const snapshot = (partial: boolean): Report => ({ version: 1, date: new Date().toISOString(), machine: { ...machineFacts(), started, loadBefore, loadAfter: loadavg(), loadPeak }, wall: wall.map((w) => ({ ...w, seconds: Number(w.seconds.toFixed(1)) })), notes: partial ? [...notes, 'PARTIAL: the run had not finished when this was saved.'] : notes, rows: [...rows].sort((x, y) => order(x) - order(y)) });
  // --save: the report so far after every row, so a run stopped early still leaves what it measured
  const save = (partial: boolean) => {
    if (o.savePath) writeFileAtomic(o.savePath, `${JSON.stringify(snapshot(partial), null, 2)}\n`);
  };
  const push = (...r: Row[]) => {
    rows.push(...r);
    loadPeak = Math.max(loadPeak, loadavg()[0]!);
    save(true);
  };
  const jobs = planJobs(o);
  const plannedTorch = planTorch(o);
  const backends = o.backends ?? BACKENDS;
  if (backends.includes('cpu') && !o.cpuModels && !o.smoke) notes.push('cpu: op rows only (whole-model rows take minutes on cpu; --cpu-models runs them).');
  if (o.smoke) notes.push('smoke mode: examples/tiny.mnx at toy sizes, every case in one child (peak RSS cumulative).');
  notes.push('FLOPs as `mnxc summary` counts them (2·MACs + one per output element of other ops); training step and fwd+bwd rows count 3× forward.');
  if (Array.isArray(o.reps)) notes.push(`timed runs per configuration: ${mainSizes(o).map((s) => `${repsFor(o, s)} at ${s}³`).join(', ')} (after one warm-up; the sliding window and the case: one).`);
  const only = new Set(o.only ?? DEFAULT_GROUPS);
  // (smoke mode runs the case row only when --only names it)
  const heavyGroups = ['case', 'scaling', 'threads'].filter((g) => only.has(g) && (!o.smoke || g !== 'case' || o.only?.includes('case')));
  if (heavyGroups.length > 0) notes.push(...groupNotes(heavyGroups, o));
  if (only.has('baselines') && !o.smoke) notes.push(BASELINES_TORCH_NOTE);
  const t = plannedTorch.length > 0 ? torchScript() : undefined;
  if (t && 'why' in t) notes.push(`PyTorch: not run (${t.why}).`);
  const script = t && 'script' in t ? t.script : undefined;
  const beside = (tr: Row, malloc: TorchMalloc) => {
    for (const r of rows) {
      if (r.label !== tr.label || r.min === undefined || tr.min === undefined || r.backend.startsWith('torch')) continue;
      if (malloc.name === 'default') r.vsTorch = r.min / tr.min;
      else r.vsTorchTuned = r.min / tr.min;
    }
  };

  /** PyTorch's rows of one phase, right after mnxc's (so a run stopped early has both sides of what it finished). */
  const torchPhase = async (phase: string) => {
    if (!script) return;
    for (const tr of plannedTorch.filter((x) => x.phase === phase)) {
      if (tr.what === 'model') {
        log(`torch (glibc ${tr.malloc.name}): MedNeXt-${tr.model!.variant} k${tr.model!.kernel} ${tr.size}³${tr.group ? ` [${tr.group.group}${tr.group.threads ? `, ${tr.group.threads} thread(s)` : ''}]` : ''}`);
        for (const row of await timed(phase, 'PyTorch', () => runTorch(script, tr, maxRss))) {
          log(`  ${row.label}: ${row.error ? `n/a: ${row.error}` : `min ${row.min!.toFixed(3)} s, ${row.peakRssMiB!.toFixed(0)} MiB`}`);
          beside(row, tr.malloc);
          push(row);
        }
        continue;
      }
      log(`torch (glibc ${tr.malloc.name}): ${caseLabel(tr.case!)}`);
      const row = await timed(phase, 'PyTorch', () => (tr.what === 'sliding' ? runTorchSliding(script, tr.case!, tr.malloc, maxRss) : runTorchCase(tr.case!, tr.malloc, maxRss)));
      log(`  ${row.error ? `n/a: ${row.error}` : `${row.min!.toFixed(tr.what === 'case' ? 1 : 3)} s, ${row.peakRssMiB!.toFixed(0)} MiB`}`);
      if (tr.what === 'sliding') beside(row, tr.malloc);
      push(row);
    }
  };
  if (script) {
    const heavyMalloc = plannedTorch.find((x) => x.phase === 'case' || x.phase === 'scaling' || x.phase === 'threads')?.malloc;
    if (heavyMalloc) notes.push(`PyTorch in the ${heavyGroups.join(', ')} table(s): glibc ${heavyMalloc.name}, one process per configuration.`);
    if (only.has('forward') || only.has('train')) notes.push("PyTorch: torch_mednext.py, same networks and input, one warm-up forward and training step, then the timed runs; its training step's loss is the mean of the heads' outputs (not Dice+CE); its forward runs come first in the process, then the training steps: a forward row's peak RSS is the process's after the forward runs, a training row's after all.");
    if (plannedTorch.some((x) => x.what === 'sliding')) notes.push('PyTorch sliding window: bench/torch_sliding.py on torch_mednext.py\'s network, the same windows, Gaussian and float32 accumulation of softmax × Gaussian, one window to warm up, no mirroring.');
    if (plannedTorch.some((x) => x.malloc.name === 'tuned')) notes.push(`glibc tuned: PyTorch run with ${Object.entries(TORCH_MALLOC[1]!.env).map(([k, v]) => `${k}=${v}`).join(' ')} (freed memory kept for reuse instead of unmapped; default glibc makes PyTorch page-fault its activations in on every pass).`);
    notes.push('÷ PyTorch: mnxc min ÷ PyTorch min (÷ tuned: against PyTorch with glibc tuned); below 1 is faster than PyTorch.');
  }

  // Phase by phase (each size's model rows, ops, baselines, the case, scaling, threads), mnxc's backends then PyTorch.
  let done = 0;
  for (const phase of phaseOrder(o)) {
    for (const job of jobs.filter((j) => j.phase === phase)) {
      log(`[${++done}/${jobs.length}] ${job.backend}: ${job.cases.map(caseLabel).join(', ')}`);
      for (const r of await timed(phase, job.backend, () => runJob(job, reps, o.smoke ? 128 : 1024, maxRss))) {
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

/** What the report says about the machine: cores, CPU model and vector extensions, memory, Node. */
function machineFacts(): Pick<Report['machine'], 'cpus' | 'cpuModel' | 'node' | 'cpuFlags' | 'memoryGiB'> {
  let flags: string[] = [];
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
    const have = new Set(line.split(':')[1]?.trim().split(/\s+/) ?? []);
    flags = ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'amx_tile'].filter((f) => have.has(f));
  } catch {
    // not Linux: no flags
  }
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.versions.node, cpuFlags: flags, memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)) };
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
  if (groups.includes('scaling')) {
    const reused = scalingFromMain(o, new Set(o.only ?? DEFAULT_GROUPS));
    notes.push(`scaling: MedNeXt-S k3 (deep supervision, 3 classes) forward and training step at ${SCALING_SIZES.map((s) => `${s}³`).join(', ')}, each size in its own process; peak RSS per process${reused.length > 0 ? `; at ${reused.map((s) => `${s}³`).join(' and ')} these are the main table's rows (the same configuration, not run twice)` : ''}.`);
  }
  if (groups.includes('threads'))
    notes.push('threads: MedNeXt-S k3 at 64³ held to 1 and to 2 threads (MNXC_NATIVE_THREADS, TF_NUM_INTRAOP_THREADS/TF_NUM_INTEROP_THREADS, OMP_NUM_THREADS; PyTorch torch.set_num_threads); efficiency = (1-thread time ÷ 2-thread time) ÷ 2; cores busy = CPU seconds ÷ wall seconds of a timed run (mnxc rows).');
  return notes;
}

/** Whole-model rows first, by size, then model and kind, PyTorch beside mnxc's backends; op rows after. */
function order(r: Row): number {
  const kinds = ['forward', 'train', 'sliding', ...OP_CASES];
  const k = kinds.indexOf(r.case?.kind ?? '');
  const spec = r.case?.spec ?? '';
  const model = spec.endsWith('resenc.mnx') ? 3 : spec.endsWith('nnunet.mnx') ? 2 : r.case?.variant === 'B' ? 1 : 0;
  const backend = BACKENDS.indexOf(r.backend);
  return (r.case?.spec ? (r.case.size ?? 0) * 10_000 + model * 1000 : 1e9) + k * 10 + (backend < 0 ? 9 : backend);
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        full: { type: 'boolean', default: false },
        sizes: { type: 'string' },
        plan: { type: 'boolean', default: false },
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
    const ints = (v: string, flag: string, ok: (n: number) => boolean, what: string) =>
      v.split(',').map((x) => {
        const n = Number(x.trim());
        if (!(Number.isInteger(n) && ok(n))) throw new Error(`${flag}: expected ${what}, got '${v}'`);
        return n;
      });
    const sizes = values.sizes === undefined ? undefined : ints(values.sizes, '--sizes', (n) => n >= 16 && n % 16 === 0, 'cube edges that are multiples of 16 (MedNeXt halves them four times), e.g. 64,128');
    if (sizes && values.full) throw new Error('--full is --sizes 128: give one of them');
    if (sizes && new Set(sizes).size !== sizes.length) throw new Error(`--sizes: '${values.sizes}' names a size twice`);
    const repsList = values.reps === undefined ? undefined : ints(values.reps, '--reps', (n) => n >= 1, 'a positive integer, or one per --sizes entry (e.g. 3,1)');
    if (repsList && repsList.length > 1 && repsList.length !== (sizes ?? [0]).length) throw new Error(`--reps: ${repsList.length} counts for ${(sizes ?? [0]).length} size(s) (--sizes); give one count, or one per size`);
    const reps = repsList === undefined ? undefined : repsList.length === 1 ? repsList[0]! : repsList;
    const maxRss = values['max-rss'] === undefined ? undefined : Number(values['max-rss']);
    if (maxRss !== undefined && !(maxRss > 0)) throw new Error(`--max-rss: expected MiB > 0, got '${values['max-rss']}'`);
    const torchMalloc = values['torch-malloc'] as BenchOptions['torchMalloc'];
    if (!['default', 'tuned', 'both'].includes(torchMalloc!)) throw new Error(`--torch-malloc: '${torchMalloc}' is not one of default, tuned, both`);
    let only = list(values.only, GROUPS, '--only');
    if (values.scaling) only = [...new Set([...(only ?? DEFAULT_GROUPS), 'scaling', 'threads'])];
    options = { maxRssMiB: maxRss, full: values.full, sizes, backends: list(values.backends, BACKENDS, '--backends'), only, caseFull: values['case-full'], savePath: values.save, reps, cpuModels: values['cpu-models'], mednextOnly: values['mednext-only'], torch: !values['no-torch'], torchMalloc, smoke: values.smoke };
    if (values.compare) previous = readReport(values.compare, '--compare');
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.plan) {
    // --plan: what a run with these options would start, in order, without running it
    process.stdout.write(`${describePlan(options)}\n`);
    return 0;
  }
  const report = await runBench(options);
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  const text = renderTable(report) + (previous ? `\n\n${renderComparison(report, previous)}` : '');
  (values.json ? process.stderr : process.stdout).write(`${text}\n`);
  return report.rows.some((r) => !r.error) ? 0 : 1;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) process.exitCode = await main(process.argv.slice(2));
