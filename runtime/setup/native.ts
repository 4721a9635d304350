import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../io/package-root.js';
import { writeFileAtomic } from '../io/atomic.js';
import { NATIVE_ADDON, NATIVE_HOME, NATIVE_HOME_LABEL, NATIVE_STAMP, readNativeStamp, type NativeStamp } from '../backends/native.js';
import { SetupError } from './setup-error.js';
import { findToolchain } from './toolchain.js';

/**
 * `mnxc setup native` (and `npm ci`'s postinstall): compiles native/ (C++17, Node-API) with
 * npm's own node-gyp into `.mnxc/native/mnxc_native.node`, for this machine's CPU
 * (-march=native). The sources are copied to `.mnxc/native/build-src` first so that the
 * checkout stays clean; a stamp (sources' hash, CPU) written last marks a verified build, and
 * a rerun with nothing changed only checks that the addon loads.
 */
export interface NativeSetupOptions {
  python?: string;
  /** Rebuild even when the stamp says the build is current. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface NativeSetupResult {
  upToDate: boolean;
  stamp: NativeStamp;
  seconds: number;
  /** What the addon reports: SIMD level compiled for and thread count. */
  info: { simd: string; threads: number };
}

const SOURCES = join(packageRoot(import.meta.url), 'native');

function sourceFiles(dir = SOURCES): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** The CPU the addon is compiled for (-march=native): its model and feature flags. */
function cpuSignature(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = info.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? '';
    const flags = info.match(/^(?:flags|Features)\s*:\s*(.*)$/m)?.[1] ?? '';
    return `${model} [${createHash('sha256').update(flags).digest('hex').slice(0, 12)}]`;
  } catch {
    return `${cpus()[0]?.model ?? 'unknown CPU'} (${process.arch})`;
  }
}

function sourceHash(): string {
  const h = createHash('sha256');
  for (const file of sourceFiles()) {
    h.update(file.slice(SOURCES.length)).update('\0').update(readFileSync(file)).update('\0');
  }
  h.update(`${process.platform}-${process.arch}`);
  return h.digest('hex');
}

export async function setupNative(options: NativeSetupOptions = {}): Promise<NativeSetupResult> {
  const start = performance.now();
  const log = options.log ?? (() => {});
  const python = options.python ?? process.env.PYTHON ?? 'python3';
  if (!existsSync(join(SOURCES, 'binding.gyp'))) throw new SetupError(`the native sources are missing (${SOURCES})`);
  const hash = sourceHash();
  const cpu = cpuSignature();
  const finish = (upToDate: boolean, stamp: NativeStamp, info: NativeSetupResult['info']): NativeSetupResult => ({
    upToDate,
    stamp,
    info,
    seconds: (performance.now() - start) / 1000,
  });

  const previous = readNativeStamp();
  if (previous && !options.force && previous.sourceHash === hash && previous.cpu === cpu && existsSync(NATIVE_ADDON)) {
    try {
      return finish(true, previous, verifyAddon(NATIVE_ADDON));
    } catch (e) {
      log(`the existing build does not load (${(e as Error).message.split('\n')[0]}); rebuilding`);
    }
  }

  let tools;
  try {
    tools = findToolchain(python);
  } catch (e) {
    if (e instanceof SetupError) throw new SetupError(e.message.replace('the tfjs-node addon', 'the native backend'));
    throw e;
  }
  rmSync(NATIVE_STAMP, { force: true });
  const work = join(NATIVE_HOME, 'build-src');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  cpSync(SOURCES, work, { recursive: true });
  log(`compiling native/ with node-gyp for this CPU (${cpu}) into ${NATIVE_HOME_LABEL}`);
  const args = [tools.nodeGyp, 'rebuild', ...(tools.nodeDir ? [`--nodedir=${tools.nodeDir}`] : []), `--jobs=${availableParallelism()}`];
  const run = spawnSync(process.execPath, args, { cwd: work, encoding: 'utf8', timeout: 600_000, env: { ...process.env, PYTHON: python } });
  const built = join(work, 'build', 'Release', 'mnxc_native.node');
  if (run.status !== 0 || !existsSync(built)) {
    const output = `${run.stdout ?? ''}\n${run.stderr ?? ''}`;
    const firstError = output.split('\n').find((l) => /\berror\b/i.test(l) && !l.startsWith('gyp ERR!'));
    const tail = output.trimEnd().split('\n').slice(-25).join('\n');
    throw new SetupError(`node-gyp failed to build the native backend${firstError ? ` (${firstError.trim()})` : ''}:\n${tail}`);
  }
  const info = verifyAddon(built);
  const staged = `${NATIVE_ADDON}.new`;
  copyFileSync(built, staged);
  renameSync(staged, NATIVE_ADDON);
  const stamp: NativeStamp = { sourceHash: hash, cpu, node: process.version, builtAt: new Date().toISOString() };
  writeFileAtomic(NATIVE_STAMP, JSON.stringify(stamp, null, 2) + '\n');
  return finish(false, stamp, info);
}

// Loads the addon in a separate process (a crash there cannot take setup down) and checks a few kernels.
const VERIFY = `
const addon = require(process.argv[1]);
const out = new Float32Array(4);
addon.matmul(Float32Array.from([1, 2, 3, 4]), Float32Array.from([5, 6, 7, 8]), out, 1, 1, 1, 2, 2, 2, false, false);
const e = new Float32Array(3);
addon.unary(0, Float32Array.from([0, 1, -1]), e, 0);
const ok = out.join(',') === '19,22,43,50' && Math.abs(e[1] - Math.E) < 1e-5 && e[0] === 1;
console.log(JSON.stringify({ ok, info: addon.info(), y: Array.from(out) }));
`;

function verifyAddon(file: string): { simd: string; threads: number } {
  const run = spawnSync(process.execPath, ['-e', VERIFY, file], { encoding: 'utf8', timeout: 120_000 });
  const last = (run.stdout ?? '').trim().split('\n').pop() ?? '';
  if (run.status === 0 && last.startsWith('{')) {
    const r = JSON.parse(last) as { ok: boolean; info: { simd: string; threads: number }; y: number[] };
    if (r.ok) return r.info;
    throw new SetupError(`the built native addon computes wrongly (matMul ${r.y.join(',')})`);
  }
  const why = run.signal ? `killed by ${run.signal}` : (run.stderr || String(run.error)).trimEnd().split('\n').slice(-12).join('\n');
  throw new SetupError(`the built native addon does not load:\n${why}`);
}
