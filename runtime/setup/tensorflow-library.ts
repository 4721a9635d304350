import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { SetupError } from './setup-error.js';
import { ZipArchive, ZipError } from '../io/zip.js';

/**
 * The TensorFlow C library that tfjs-node's addon links against, taken from a TensorFlow pip
 * package: `libtensorflow_cc.so.2` exports the C and eager APIs (TF_*, TFE_*), next to
 * `libtensorflow_framework.so.2`, with headers under `include/`.
 */
export interface TensorflowLibrary {
  kind: 'installed' | 'wheel';
  /** For messages: which package, which version, from where. */
  origin: string;
  /** Folder holding libtensorflow_cc.so.2 and libtensorflow_framework.so.2. */
  libDir: string;
  /** Folder holding tensorflow/c/c_api.h. */
  includeDir: string;
  /** Changes whenever the library does: decides whether setup must rebuild. */
  fingerprint: string;
}

export const LIB_CC = 'libtensorflow_cc.so.2';
export const LIB_FRAMEWORK = 'libtensorflow_framework.so.2';

/** The wheel/ELF name of this machine's architecture, or null where TensorFlow has no Linux build. */
export function linuxArch(): 'x86_64' | 'aarch64' | null {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : null;
}

/** Throws where tfjs-node cannot be built from a pip package: only Linux on x86_64 or arm64. */
export function checkPlatform(): void {
  if (process.platform === 'darwin' || process.platform === 'win32') {
    const os = process.platform === 'darwin' ? 'macOS' : 'Windows';
    throw new SetupError(
      `building the tensorflow backend from a pip package is supported on Linux only, not ${os}; ` +
        'mnxc uses the wasm backend here (`--backend wasm`, what `auto` picks)',
    );
  }
  if (process.platform !== 'linux') throw new SetupError(`unsupported platform ${process.platform} (Linux only)`);
  if (!linuxArch()) throw new SetupError(`unsupported architecture ${process.arch} (TensorFlow ships Linux builds for x86_64 and aarch64)`);
}

const ELF_MACHINE: Record<number, string> = { 62: 'x86_64', 183: 'aarch64', 3: 'i386', 40: 'arm' };

/** Architecture an ELF shared library was built for. */
export function elfArch(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(20);
    readSync(fd, head, 0, 20, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) throw new SetupError(`${file} is not an ELF shared library`);
    const machine = head.readUInt16LE(18);
    return ELF_MACHINE[machine] ?? `machine ${machine}`;
  } finally {
    closeSync(fd);
  }
}

function checkLibraryArch(file: string, where: string): void {
  const arch = elfArch(file);
  if (arch !== linuxArch()) throw new SetupError(`${where} is built for ${arch}, this machine is ${linuxArch()}`);
}

// Prints where the `tensorflow` package is without importing it (importing costs seconds).
const FIND_TENSORFLOW = [
  'import importlib.util, importlib.metadata, json, os',
  "spec = importlib.util.find_spec('tensorflow')",
  'dists = []',
  "for name in ('tensorflow', 'tensorflow-cpu', 'tensorflow-gpu', 'tf-nightly', 'tf-nightly-cpu', 'tensorflow-intel'):",
  '    try: dists.append(name + " " + importlib.metadata.version(name))',
  '    except Exception: pass',
  "print(json.dumps({'dir': os.path.dirname(spec.origin) if spec and spec.origin else None, 'dists': dists}))",
].join('\n');

/** The library of the `tensorflow` package installed for `python`, or the reason there is none. */
export function findInstalledTensorflow(python: string): TensorflowLibrary | { reason: string } {
  const run = spawnSync(python, ['-c', FIND_TENSORFLOW], { encoding: 'utf8', timeout: 60_000 });
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    return { reason: code === 'ENOENT' ? `${python} not found` : `${python} failed: ${run.error.message}` };
  }
  if (run.status !== 0) return { reason: `${python} failed: ${(run.stderr || '').trim().split('\n').pop()}` };
  const found = JSON.parse(run.stdout.trim().split('\n').pop()!) as { dir: string | null; dists: string[] };
  if (!found.dir) return { reason: `no tensorflow package installed for ${python}` };
  const where = `the tensorflow package in ${found.dir}`;
  const libCc = join(found.dir, LIB_CC);
  if (!existsSync(libCc) || !existsSync(join(found.dir, LIB_FRAMEWORK))) {
    return { reason: `${where} has no ${LIB_CC} / ${LIB_FRAMEWORK} (TensorFlow 2.x pip builds for Linux have them)` };
  }
  const includeDir = join(found.dir, 'include');
  if (!existsSync(join(includeDir, 'tensorflow', 'c', 'c_api.h'))) return { reason: `${where} has no C headers (include/tensorflow/c/c_api.h)` };
  checkLibraryArch(libCc, join(found.dir, LIB_CC));
  const real = realpathSync(libCc);
  const st = statSync(real);
  return {
    kind: 'installed',
    origin: `installed ${found.dists.join(', ') || 'tensorflow'} (${python})`,
    libDir: dirname(real),
    includeDir,
    fingerprint: `installed:${real}:${st.size}:${st.mtimeMs}`,
  };
}

/** What a wheel file holds, checked without unpacking it. */
export interface WheelInfo {
  path: string;
  distribution: string;
  version: string;
  fingerprint: string;
}

const WHEEL_LIB_CC = `tensorflow/${LIB_CC}`;
const WHEEL_LIB_FRAMEWORK = `tensorflow/${LIB_FRAMEWORK}`;
const WHEEL_INCLUDE = 'tensorflow/include/';

/** Checks that `path` is a TensorFlow wheel for this machine (Linux, this architecture, with the C library). */
export function inspectWheel(path: string): WheelInfo {
  if (!existsSync(path)) throw new SetupError(`${path}: no such file`);
  if (!path.endsWith('.whl')) throw new SetupError(`${path}: not a wheel (the name should end in .whl)`);
  const name = basename(path);
  // name-version(-build)?-python-abi-platform.whl; platform tags may be joined with dots.
  const parts = name.slice(0, -4).split('-');
  if (parts.length < 5) throw new SetupError(`${path}: not a wheel file name (name-version-python-abi-platform.whl)`);
  const platforms = parts[parts.length - 1]!.split('.');
  const arch = linuxArch();
  if (!platforms.some((p) => p.includes('linux') && p.endsWith(`_${arch}`))) {
    throw new SetupError(`${path}: built for ${platforms.join(', ')}, not Linux ${arch}`);
  }
  let zip: ZipArchive;
  try {
    zip = ZipArchive.open(path);
  } catch (e) {
    throw new SetupError((e as Error).message);
  }
  try {
    for (const member of [WHEEL_LIB_CC, WHEEL_LIB_FRAMEWORK, `${WHEEL_INCLUDE}tensorflow/c/c_api.h`]) {
      if (!zip.entries.has(member)) throw new SetupError(`${path}: no ${member} inside (is it a TensorFlow 2.x wheel?)`);
    }
  } finally {
    zip.close();
  }
  return {
    path,
    distribution: parts[0]!,
    version: parts[1]!,
    fingerprint: `wheel:${name}:${statSync(path).size}`,
  };
}

const INCLUDE_LINE = /^\s*#\s*include\s*"([^"]+)"/gm;

/**
 * Unpacks from the wheel the two libraries and the headers that `seeds` include, transitively
 * (a few dozen of its 13,000 headers), into `dest`. Skipped when `dest` already holds this wheel;
 * otherwise built beside it and swapped in, so `dest` is always whole.
 */
export async function unpackWheel(wheel: WheelInfo, seeds: string[], dest: string): Promise<TensorflowLibrary> {
  const library: TensorflowLibrary = {
    kind: 'wheel',
    origin: `${wheel.distribution} ${wheel.version} wheel (${basename(wheel.path)})`,
    libDir: dest,
    includeDir: join(dest, 'include'),
    fingerprint: wheel.fingerprint,
  };
  const marker = join(dest, 'source.json');
  if (existsSync(marker) && (JSON.parse(readFileSync(marker, 'utf8')) as { fingerprint: string }).fingerprint === wheel.fingerprint) {
    return library;
  }
  const partial = `${dest}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const zip = ZipArchive.open(wheel.path);
  try {
    const pending = [...seeds];
    const seen = new Set<string>();
    while (pending.length > 0) {
      const header = pending.pop()!;
      if (seen.has(header)) continue;
      seen.add(header);
      const member = WHEEL_INCLUDE + header;
      if (!zip.entries.has(member)) continue; // a system or tfjs-node header
      const text = zip.read(member);
      const out = join(partial, 'include', header);
      mkdirSync(dirname(out), { recursive: true });
      writeFileAtomic(out, text);
      for (const m of text.toString('utf8').matchAll(INCLUDE_LINE)) pending.push(m[1]!);
    }
    await zip.extract(WHEEL_LIB_CC, join(partial, LIB_CC));
    await zip.extract(WHEEL_LIB_FRAMEWORK, join(partial, LIB_FRAMEWORK));
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    throw e instanceof ZipError ? new SetupError(e.message) : e;
  } finally {
    zip.close();
  }
  writeFileAtomic(join(partial, 'source.json'), JSON.stringify({ fingerprint: wheel.fingerprint, origin: library.origin }, null, 2) + '\n');
  rmSync(dest, { recursive: true, force: true });
  renameSync(partial, dest);
  return library;
}
