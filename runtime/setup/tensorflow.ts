import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import {
  PRIVATE_TFJS_NODE,
  readSetupStamp,
  SETUP_STAMP,
  TENSORFLOW_HOME,
  TENSORFLOW_HOME_LABEL,
  type SetupStamp,
} from '../backends/tensorflow.js';
import { SetupError } from './setup-error.js';
import {
  checkPlatform,
  findInstalledTensorflow,
  inspectWheel,
  LIB_CC,
  LIB_FRAMEWORK,
  unpackWheel,
  type TensorflowLibrary,
  type WheelInfo,
} from './tensorflow-library.js';
import { findToolchain, type Toolchain } from './toolchain.js';
import { BINDING_PATCH_NAMES, patchBinding } from './tfjs-node-patch.js';

/**
 * `mnxc setup tensorflow`: makes the `tensorflow` backend from a TensorFlow pip package.
 * tfjs-node (same version as our tfjs, install script off, its own tfjs copies removed so it
 * uses ours) goes into `.mnxc/tensorflow/`; its addon is compiled with npm's node-gyp against
 * the package's libtensorflow_cc.so.2. A stamp written last marks the build complete.
 */
export interface SetupOptions {
  /** A TensorFlow wheel file; default: the `tensorflow` package installed for `python`. */
  wheel?: string;
  python?: string;
  /** Rebuild even when the stamp says the build is current. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface SetupResult {
  upToDate: boolean;
  stamp: SetupStamp;
  seconds: number;
  /** Bytes under `.mnxc/tensorflow` (an installed TensorFlow's own files not counted). */
  diskBytes: number;
}

const requireHere = createRequire(import.meta.url);

export async function setupTensorflow(options: SetupOptions = {}): Promise<SetupResult> {
  const start = performance.now();
  const log = options.log ?? (() => {});
  const python = options.python ?? process.env.PYTHON ?? 'python3';
  checkPlatform();
  const tfjsVersion = (requireHere('@tensorflow/tfjs/package.json') as { version: string }).version;
  const previous = readSetupStamp();
  const finish = (upToDate: boolean, stamp: SetupStamp): SetupResult => ({
    upToDate,
    stamp,
    seconds: (performance.now() - start) / 1000,
    diskBytes: diskUse(TENSORFLOW_HOME),
  });

  let wheel: WheelInfo | null = null;
  let installed: TensorflowLibrary | null = null;
  if (options.wheel) {
    wheel = inspectWheel(resolve(options.wheel));
  } else {
    const found = findInstalledTensorflow(python);
    if ('reason' in found) {
      if (previous && !options.force && buildIsCurrent(previous, previous.library.fingerprint, tfjsVersion)) {
        log(`no installed TensorFlow (${found.reason}); keeping the build from ${previous.library.origin}`);
        verifyBuild();
        return finish(true, previous);
      }
      throw new SetupError(
        `${found.reason}. Install TensorFlow's pip package (\`pip install tensorflow-cpu\`, or ` +
          "`pip install 'tensorflow[and-cuda]'` for NVIDIA GPUs), or pass --wheel FILE " +
          '(e.g. from `pip download --no-deps tensorflow-cpu -d DIR`)',
      );
    }
    installed = found;
  }
  const fingerprint = wheel?.fingerprint ?? installed!.fingerprint;
  const origin = installed?.origin ?? `${wheel!.distribution} ${wheel!.version} wheel`;
  log(`TensorFlow C library from ${origin}`);

  if (previous && !options.force && buildIsCurrent(previous, fingerprint, tfjsVersion)) {
    try {
      verifyBuild();
      return finish(true, previous);
    } catch (e) {
      // e.g. the project folder moved, so absolute links broke: build again.
      log(`the existing build does not load (${(e as Error).message.split('\n')[1] ?? e}); rebuilding`);
    }
  }

  const tools = findToolchain(python);
  rmSync(SETUP_STAMP, { force: true });
  mkdirSync(TENSORFLOW_HOME, { recursive: true });
  installTfjsNode(tools, tfjsVersion, log);
  let library = installed;
  const unpacked = join(TENSORFLOW_HOME, 'libtensorflow');
  // Switching to an installed package: a library unpacked from a wheel earlier is now unused.
  if (library) rmSync(unpacked, { recursive: true, force: true });
  else {
    log(`unpacking ${LIB_CC}, ${LIB_FRAMEWORK} and the C headers from ${wheel!.path}`);
    library = await unpackWheel(wheel!, includedHeaders(), unpacked);
  }
  const patches = patchBinding(PRIVATE_TFJS_NODE, log);
  buildAddon(tools, library, python, log);
  const check = verifyBuild();
  const stamp: SetupStamp = {
    tfjsNode: tfjsVersion,
    tensorflow: check.version,
    gpu: check.gpu,
    library: { kind: library.kind, origin: library.origin, libDir: library.libDir, fingerprint },
    node: process.version,
    bindingPatches: patches,
    bindingPatchesSkipped: BINDING_PATCH_NAMES.filter((name) => !patches.includes(name)),
    builtAt: new Date().toISOString(),
  };
  writeFileAtomic(SETUP_STAMP, JSON.stringify(stamp, null, 2) + '\n');
  return finish(false, stamp);
}

function bindingFile(): string | null {
  const packageJson = join(PRIVATE_TFJS_NODE, 'package.json');
  if (!existsSync(packageJson)) return null;
  try {
    const preGyp = createRequire(packageJson)('@mapbox/node-pre-gyp') as { find(p: string): string };
    return preGyp.find(packageJson);
  } catch {
    return null;
  }
}

function buildIsCurrent(stamp: SetupStamp, fingerprint: string, tfjsVersion: string): boolean {
  const file = bindingFile();
  // A build from before a patch was added is rebuilt (one whose patch did not apply is not).
  const patched = BINDING_PATCH_NAMES.every((name) => stamp.bindingPatches?.includes(name) || stamp.bindingPatchesSkipped?.includes(name));
  return stamp.tfjsNode === tfjsVersion && stamp.library.fingerprint === fingerprint && patched && file !== null && existsSync(file);
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** npm install of tfjs-node alone (no install script: it would download libtensorflow), then our tfjs in place of its own. */
function installTfjsNode(tools: Toolchain, version: string, log: (line: string) => void): void {
  const manifest = join(PRIVATE_TFJS_NODE, 'package.json');
  const current = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version : null;
  if (current !== version || !existsSync(join(TENSORFLOW_HOME, 'node_modules', '@mapbox', 'node-pre-gyp'))) {
    log(`installing @tensorflow/tfjs-node@${version} into ${TENSORFLOW_HOME_LABEL} (npm, install scripts off)`);
    const pkg = {
      name: 'mnxc-tensorflow-backend',
      private: true,
      description: 'Written by `mnxc setup tensorflow`; safe to delete.',
      dependencies: { '@tensorflow/tfjs-node': version },
    };
    writeFileAtomic(join(TENSORFLOW_HOME, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
    const run = spawnSync(
      process.execPath,
      [tools.npmCli, 'install', '--ignore-scripts', '--omit=dev', '--no-audit', '--no-fund', '--prefix', TENSORFLOW_HOME],
      { cwd: TENSORFLOW_HOME, encoding: 'utf8', timeout: 600_000 },
    );
    if (run.status !== 0) {
      throw new SetupError(`npm install @tensorflow/tfjs-node@${version} failed (is the npm registry reachable?):\n${tail(run.stderr || run.stdout || String(run.error))}`);
    }
  }
  // tfjs-node requires @tensorflow/tfjs; with its copies gone Node finds the project's, one engine.
  const scope = join(TENSORFLOW_HOME, 'node_modules', '@tensorflow');
  for (const name of readdirSync(scope)) {
    if (name !== 'tfjs-node') rmSync(join(scope, name), { recursive: true, force: true });
  }
  rmSync(join(PRIVATE_TFJS_NODE, 'node_modules', '@tensorflow'), { recursive: true, force: true });
  const ours = requireHere.resolve('@tensorflow/tfjs-core');
  const theirs = createRequire(createRequire(manifest).resolve('@tensorflow/tfjs')).resolve('@tensorflow/tfjs-core');
  if (theirs !== ours) throw new SetupError(`tfjs-node in ${TENSORFLOW_HOME_LABEL} resolves tfjs-core to ${theirs}, not the project's ${ours}`);
}

/** The headers tfjs-node's C++ sources include: where unpacking the wheel's headers starts. */
function includedHeaders(): string[] {
  const dir = join(PRIVATE_TFJS_NODE, 'binding');
  const headers = new Set<string>();
  for (const file of readdirSync(dir)) {
    for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/^\s*#\s*include\s*"([^"]+)"/gm)) headers.add(m[1]!);
  }
  return [...headers];
}

const RPATH_LINE = "'-Wl,-rpath,\\$$ORIGIN/../../deps/lib',";

/** Links the library into tfjs-node's `deps/` and runs node-gyp; the addon lands where tfjs-node looks for it. */
function buildAddon(tools: Toolchain, library: TensorflowLibrary, python: string, log: (line: string) => void): void {
  const deps = join(PRIVATE_TFJS_NODE, 'deps');
  rmSync(deps, { recursive: true, force: true });
  mkdirSync(join(deps, 'lib'), { recursive: true });
  symlinkSync(library.includeDir, join(deps, 'include'));
  // -ltensorflow links libtensorflow.so; at run time the loader asks for the SONAMEs (*.so.2).
  for (const [link, target] of [
    ['libtensorflow.so', LIB_CC],
    [LIB_CC, LIB_CC],
    ['libtensorflow_framework.so', LIB_FRAMEWORK],
    [LIB_FRAMEWORK, LIB_FRAMEWORK],
  ] as const) {
    symlinkSync(join(library.libDir, target), join(deps, 'lib', link));
  }
  // Search the library's real folder first: its own RUNPATH ($ORIGIN/../nvidia/... in CUDA
  // wheels) only resolves from there, not from a symlink in deps/lib.
  const original = join(PRIVATE_TFJS_NODE, 'binding.gyp.orig');
  if (!existsSync(original)) writeFileAtomic(original, readFileSync(join(PRIVATE_TFJS_NODE, 'binding.gyp')));
  const gyp = readFileSync(original, 'utf8');
  if (!gyp.includes(RPATH_LINE)) throw new SetupError(`unexpected binding.gyp in ${TENSORFLOW_HOME_LABEL}: no deps/lib rpath line`);
  const rpath = /^[\w./+@-]+$/.test(library.libDir) ? `'-Wl,-rpath,${library.libDir}', ` : '';
  writeFileAtomic(join(PRIVATE_TFJS_NODE, 'binding.gyp'), gyp.replace(RPATH_LINE, () => rpath + RPATH_LINE));

  const target = bindingFile();
  const napi = target?.match(/napi-v(\d+)/)?.[1];
  if (!target || !napi) throw new SetupError(`cannot tell where tfjs-node in ${TENSORFLOW_HOME_LABEL} loads its addon from`);
  rmSync(target, { force: true });
  log(`compiling the tfjs-node addon with node-gyp against ${LIB_CC}`);
  const args = [
    tools.nodeGyp,
    'rebuild',
    ...(tools.nodeDir ? [`--nodedir=${tools.nodeDir}`] : []),
    '--module_name=tfjs_binding',
    `--module_path=${dirname(target)}`,
    `--napi_build_version=${napi}`,
    `--jobs=${availableParallelism()}`,
  ];
  const run = spawnSync(process.execPath, args, {
    cwd: PRIVATE_TFJS_NODE,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, PYTHON: python },
  });
  if (run.status !== 0 || !existsSync(target)) {
    const output = `${run.stdout ?? ''}\n${run.stderr ?? ''}`;
    const firstError = output.split('\n').find((l) => /\berror\b/i.test(l) && !l.startsWith('gyp ERR!'));
    throw new SetupError(`node-gyp failed to build the addon${firstError ? ` (${firstError.trim()})` : ''}:\n${tail(output)}`);
  }
}

// Loads the build in a separate process (a crash there cannot take setup down) and multiplies two matrices.
const VERIFY = `
const { createRequire } = require('node:module');
const [dir, core] = process.argv.slice(1);
const req = createRequire(dir + '/package.json');
const seen = createRequire(req.resolve('@tensorflow/tfjs')).resolve('@tensorflow/tfjs-core');
if (seen !== core) throw new Error('tfjs-node resolves tfjs-core to ' + seen + ', not ' + core);
const tf = req(dir);
const backend = tf.engine().findBackend('tensorflow');
const y = Array.from(tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])).dataSync());
console.log(JSON.stringify({ version: String(backend.binding.TF_Version), gpu: !!backend.isUsingGpuDevice, active: tf.getBackend(), y }));
`;

function verifyBuild(): { version: string; gpu: boolean } {
  const run = spawnSync(process.execPath, ['-e', VERIFY, PRIVATE_TFJS_NODE, requireHere.resolve('@tensorflow/tfjs-core')], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
  });
  const last = (run.stdout ?? '').trim().split('\n').pop() ?? '';
  if (run.status === 0 && last.startsWith('{')) {
    const out = JSON.parse(last) as { version: string; gpu: boolean; active: string; y: number[] };
    if (out.active === 'tensorflow' && out.y.join(',') === '19,22,43,50') return out;
    throw new SetupError(`the built tensorflow backend computes wrongly (backend ${out.active}, matMul ${out.y.join(',')})`);
  }
  const why = run.signal ? `killed by ${run.signal}` : tail(run.stderr || String(run.error), 12);
  throw new SetupError(`the built addon does not load:\n${why}`);
}

/** Bytes of the regular files under `dir`, symlinks not followed. */
function diskUse(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) total += lstatSync(p).size;
    }
  };
  if (existsSync(dir)) walk(dir);
  return total;
}
