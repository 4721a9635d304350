import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from '../io/package-root.js';
import * as tf from '@tensorflow/tfjs-core';
import { epilogueKernelsInstalled, fusedMatMulInstalled, installFusedMatMul } from './tensorflow-fused.js';

/**
 * The `tensorflow` backend: tfjs-node's native addon over a TensorFlow C library.
 *
 * `mnxc setup tensorflow` builds tfjs-node into a private folder (`.mnxc/tensorflow/` in the
 * package root) against the C library of a TensorFlow pip package: outside node_modules, so
 * `npm ci` neither needs nor removes it. A tfjs-node installed the usual npm way is used too.
 * Either must resolve `@tensorflow/tfjs-core` to the very file this module uses, or the backend
 * would register in a second engine.
 */

const ROOT = packageRoot(import.meta.url);

/** Where `mnxc setup tensorflow` puts its build (MNXC_TENSORFLOW_HOME overrides: another build, or none). */
export const TENSORFLOW_HOME = process.env.MNXC_TENSORFLOW_HOME ? resolve(process.env.MNXC_TENSORFLOW_HOME) : join(ROOT, '.mnxc', 'tensorflow');
/** Shown in messages instead of the absolute path. */
export const TENSORFLOW_HOME_LABEL = '.mnxc/tensorflow';
/** Written last by setup: its presence means the private build is complete and was verified. */
export const SETUP_STAMP = join(TENSORFLOW_HOME, 'setup.json');
export const PRIVATE_TFJS_NODE = join(TENSORFLOW_HOME, 'node_modules', '@tensorflow', 'tfjs-node');

export interface SetupStamp {
  tfjsNode: string;
  tensorflow: string;
  gpu: boolean;
  library: { kind: 'installed' | 'wheel'; origin: string; libDir: string; fingerprint: string };
  node: string;
  /** Source patches applied to the addon (runtime/setup/tfjs-node-patch.ts), and those that did not fit. */
  bindingPatches?: string[];
  bindingPatchesSkipped?: string[];
  builtAt: string;
}

export interface TensorflowBinding {
  /** npm package name that loaded (`@tensorflow/tfjs-node` or `-gpu`). */
  packageName: string;
  packageVersion: string;
  /** `.mnxc/tensorflow` or `node_modules`. */
  location: string;
  /** TF_Version() of the C library. */
  tensorflowVersion: string;
  /** Whether TensorFlow placed the eager context on a GPU. */
  usingGpu: boolean;
}

const requireHere = createRequire(import.meta.url);
let loaded: Promise<string | null> | undefined;
let binding: TensorflowBinding | null = null;

export function readSetupStamp(): SetupStamp | null {
  try {
    return JSON.parse(readFileSync(SETUP_STAMP, 'utf8')) as SetupStamp;
  } catch {
    return null;
  }
}

/** Details of the loaded binding, or null before a successful `loadTensorflowBinding()`. */
export function tensorflowBinding(): TensorflowBinding | null {
  return binding;
}

/**
 * Loads tfjs-node once and registers the `tensorflow` backend. Returns null when it did, else
 * the reason it did not (never throws, prints nothing: `mnxc doctor` shows the reason).
 */
export function loadTensorflowBinding(): Promise<string | null> {
  loaded ??= Promise.resolve().then(loadOnce);
  return loaded;
}

interface Candidate {
  packageJson: string;
  location: string;
}

function candidates(): { found: Candidate[]; reasons: string[] } {
  const found: Candidate[] = [];
  const reasons: string[] = [];
  const privateJson = join(PRIVATE_TFJS_NODE, 'package.json');
  if (existsSync(privateJson)) {
    if (readSetupStamp()) found.push({ packageJson: privateJson, location: TENSORFLOW_HOME_LABEL });
    else reasons.push(`the build in ${TENSORFLOW_HOME_LABEL} is incomplete (run \`mnxc setup tensorflow\` again)`);
  }
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      found.push({ packageJson: requireHere.resolve(`${name}/package.json`), location: 'node_modules' });
    } catch {
      // not installed the npm way
    }
  }
  return { found, reasons };
}

/** The file `require('@tensorflow/tfjs-core')` gives code in tfjs-node, through its `@tensorflow/tfjs`. */
function coreSeenBy(packageJson: string): string {
  const tfjs = createRequire(packageJson).resolve('@tensorflow/tfjs');
  return createRequire(tfjs).resolve('@tensorflow/tfjs-core');
}

async function loadOnce(): Promise<string | null> {
  const { found, reasons } = candidates();
  if (found.length === 0 && reasons.length === 0) {
    return 'not set up: run `mnxc setup tensorflow` (Linux; needs a TensorFlow pip package, e.g. `pip install tensorflow-cpu`)';
  }
  const ourCore = requireHere.resolve('@tensorflow/tfjs-core');
  for (const candidate of found) {
    const pkg = JSON.parse(readFileSync(candidate.packageJson, 'utf8')) as { name: string; version: string };
    const label = `${pkg.name}@${pkg.version} (${candidate.location})`;
    try {
      const theirCore = coreSeenBy(candidate.packageJson);
      if (theirCore !== ourCore) {
        reasons.push(`${label} would use a second copy of tfjs-core (${theirCore}), not ours`);
        continue;
      }
      // TensorFlow's C++ INFO/WARNING lines are noise here; a user's own setting wins.
      process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
      const previous = tf.getBackend();
      createRequire(candidate.packageJson)(dirname(candidate.packageJson));
      // tfjs-node switches the active backend on load; choosing one stays with useBackend().
      if (previous && previous !== 'tensorflow') await tf.setBackend(previous);
      const backend = tf.engine().findBackend('tensorflow') as unknown as {
        binding: { TF_Version: string };
        isUsingGpuDevice: boolean;
      } | null;
      if (!backend) {
        reasons.push(`${label} loaded but registered no tensorflow backend`);
        continue;
      }
      installFusedMatMul();
      binding = {
        packageName: pkg.name,
        packageVersion: pkg.version,
        location: candidate.location,
        tensorflowVersion: String(backend.binding.TF_Version),
        usingGpu: Boolean(backend.isUsingGpuDevice),
      };
      return null;
    } catch (e) {
      reasons.push(`${label} failed to load: ${firstLine(e)}`);
    }
  }
  return reasons.join('; ');
}

function firstLine(e: unknown): string {
  return ((e as Error).message ?? String(e)).split('\n')[0]!;
}

/** One line saying what the loaded binding is, for `mnxc doctor`. */
export function describeTensorflowBinding(): string {
  if (!binding) return 'not loaded';
  const device = binding.usingGpu ? 'GPU' : 'CPU';
  const fused = !fusedMatMulInstalled()
    ? ' (no fused kernels: rebuild with `mnxc setup tensorflow --force`)'
    : epilogueKernelsInstalled()
      ? ', fused matMul + bias / GELU / residual'
      : ', fused matMul + bias (no oneDNN epilogues)';
  return `TensorFlow ${binding.tensorflowVersion} C library on ${device}, via ${binding.packageName}@${binding.packageVersion} in ${binding.location}${fused}`;
}
