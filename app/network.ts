/**
 * The network a job runs, from either form the toolchain knows:
 *   - an `.mnx` spec, compiled here (with --set / --variant / --model and an input size), or
 *   - a compiled artifact: the folder `mnxc compile SPEC -o DIR` writes, or its `model.ir.json`,
 *     read and checked by the IR verifier (the IR is the contract between compiler and runtime).
 * The result says which it was, so a run folder can record it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { JobError } from './errors.js';
import { compileFile } from '../compiler/compile.js';
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import type { IRModel } from '../ir/types.js';
import { verifyIR } from '../ir/verify.js';
import { sizeDivisor } from '../runtime/infer/predict.js';

/** The file name `mnxc compile -o DIR` gives the IR. */
export const IR_FILE = 'model.ir.json';

export interface NetworkOptions {
  /** `name=value` overrides (.mnx literals); specs only. */
  set?: string[];
  variant?: string;
  model?: string;
  /** Input size the spec is compiled (and its shapes checked) at; a compiled IR keeps its own. */
  inputSize?: number[] | null;
}

/** Where a network came from, as a run folder records it (`network.json`). */
export interface NetworkSource {
  given: 'spec' | 'ir';
  /** The path as resolved (the .mnx file, or the model.ir.json). */
  path: string;
  /** Spec runs: every .mnx file the compiler read (the spec and its imports). */
  files: string[];
  set: string[];
  variant?: string;
  model?: string;
}

export interface Network {
  ir: IRModel;
  source: NetworkSource;
}

/** True when PATH names a compiled artifact (a folder, or a .json file) rather than .mnx text. */
export function isCompiledArtifact(path: string): boolean {
  return path.endsWith('.json') || (existsSync(path) && statSync(path).isDirectory());
}

/** Reads and verifies a compiled IR: DIR/model.ir.json or the json file itself. */
export function readCompiledIR(path: string): { ir: IRModel; file: string } {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    file = join(path, IR_FILE);
    if (!existsSync(file)) throw new JobError(`${path}: not a compiled model (no ${IR_FILE}; write one with mnxc compile SPEC -o ${path})`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new JobError(`${file}: cannot read the IR: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new JobError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const problems = verifyIR(json);
  if (problems.length > 0) {
    const more = problems.length > 10 ? `\n  … and ${problems.length - 10} more` : '';
    throw new JobError(`${file}: not a valid model IR:\n  ${problems.slice(0, 10).join('\n  ')}${more}`);
  }
  return { ir: json as IRModel, file };
}

/**
 * The network at PATH (an .mnx spec or a compiled artifact). For a spec, diagnostics go to
 * `onDiagnostics` and null means it did not compile; a compiled IR that is unreadable or invalid
 * throws a JobError naming the file.
 */
export function loadNetwork(path: string, opts: NetworkOptions = {}, onDiagnostics: (text: string) => void = () => {}): Network | null {
  const set = opts.set ?? [];
  if (isCompiledArtifact(path)) {
    const given = [set.length > 0 && '--set', opts.variant !== undefined && '--variant', opts.model !== undefined && '--model'].filter(Boolean);
    if (given.length > 0) throw new JobError(`${path}: ${given.join(', ')} apply to .mnx specs; this is a compiled IR (compile again with mnxc compile to change it)`);
    const { ir, file } = readCompiledIR(path);
    return { ir, source: { given: 'ir', path: resolve(file), files: [], set: [] } };
  }
  const r = compileFile(path, { set, variant: opts.variant, model: opts.model, inputSize: opts.inputSize ?? null });
  const text = renderDiagnostics(r.diagnostics, r.sources);
  if (text) onDiagnostics(text);
  if (!r.ir) return null;
  const root = resolve(path);
  const files = [root, ...r.sources.files().filter((f) => f.endsWith('.mnx')).map((f) => resolve(f))].filter((f, i, all) => all.indexOf(f) === i && existsSync(f));
  return {
    ir: r.ir,
    source: { given: 'spec', path: root, files, set, ...(opts.variant !== undefined ? { variant: opts.variant } : {}), ...(opts.model !== undefined ? { model: opts.model } : {}) },
  };
}

/** loadNetwork that throws when a spec does not compile (its diagnostics already reported). */
export function requireNetwork(path: string, opts: NetworkOptions = {}, onDiagnostics: (text: string) => void = () => {}, what = ''): Network {
  const n = loadNetwork(path, opts, onDiagnostics);
  if (!n) throw new JobError(`${path}: ${what ? `${what} ` : ''}does not compile (see the messages above)`);
  return n;
}

/**
 * Refuses an input size the network cannot take. A spec compiled at that size has had its shapes
 * checked by the compiler; a compiled IR is checked here: every spatial size a multiple of what
 * the downsampling needs.
 */
export function checkInputSize(network: Network, spatial: number[], what: string): void {
  if (network.source.given !== 'ir') return;
  // sizeDivisor is per axis of a 3-D patch; a 2-D network's input is its last two axes
  const divisor = sizeDivisor(network.ir).slice(3 - network.ir.spatialDims);
  if (spatial.length !== divisor.length || spatial.some((s, a) => s % divisor[a]! !== 0))
    throw new JobError(`${what}: input size ${spatial.join('×')} is not a multiple of ${divisor.join('×')}, which ${network.source.path}'s downsampling needs`);
}
