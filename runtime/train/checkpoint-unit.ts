/**
 * A checkpoint as one unit. Its three files (`NAME.weights.safetensors`, `NAME.state.safetensors`,
 * `NAME.json`) keep their names, but the json is a manifest written last: it names the epoch and
 * the SHA-256 and size of the two data files. A reader accepts the unit only when the files match
 * their manifest. Before a save replaces anything, the current unit is hard-linked into
 * `.NAME.prev/`; a save killed between its renames therefore leaves a unit that fails the check and
 * a complete previous one, which `repairCheckpoint` moves back (roll back). Nothing else is kept.
 */
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';

import { CheckpointUnitError as CheckpointError } from '../errors.js';

export { CheckpointError };

export interface FileDigest {
  sha256: string;
  bytes: number;
}

/** What the json (manifest) records about the data files of its unit. */
export interface CheckpointManifest {
  weights: FileDigest;
  state: FileDigest;
}

const PARTS = ['weights', 'state', 'json'] as const;

export function unitPaths(dir: string, name: string) {
  return { weights: join(dir, `${name}.weights.safetensors`), state: join(dir, `${name}.state.safetensors`), json: join(dir, `${name}.json`) };
}

function prevDir(dir: string, name: string): string {
  return join(dir, `.${name}.prev`);
}

function digest(bytes: Uint8Array): FileDigest {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength };
}

const reached = new Map<string, number>();

/**
 * Test hook: `MNXC_KILL_AT=<stage>[@n]` kills this process with SIGKILL the n-th time (default the
 * first) a save reaches that stage, e.g. `checkpoint_latest:between-renames@2`.
 */
function failpoint(stage: string): void {
  const want = process.env.MNXC_KILL_AT;
  if (!want) return;
  const [at, nth] = want.split('@');
  if (at !== stage) return;
  const n = (reached.get(stage) ?? 0) + 1;
  reached.set(stage, n);
  if (n === Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}

/**
 * Saves a unit: data files under temporary names, the current unit linked aside, the data files
 * renamed into place, then the manifest (the commit), then the aside copy removed.
 */
export function writeCheckpointUnit(dir: string, name: string, weights: Uint8Array, state: Uint8Array, json: (files: CheckpointManifest) => object): void {
  mkdirSync(dir, { recursive: true });
  const p = unitPaths(dir, name);
  const stamp = `${process.pid}.${Date.now()}`;
  const tmpW = join(dir, `.${name}.weights.safetensors.${stamp}.tmp`);
  const tmpS = join(dir, `.${name}.state.safetensors.${stamp}.tmp`);
  writeFileSync(tmpW, weights);
  writeFileSync(tmpS, state);
  const files = { weights: digest(weights), state: digest(state) };
  // The current unit aside (hard links: no copy) so an interrupted save can be undone. A copy
  // aside already there is left alone: it is whole (a save that failed midway did not remove it).
  const prev = prevDir(dir, name);
  if (!existsSync(prev) && PARTS.every((part) => existsSync(p[part]))) {
    const tmpPrev = join(dir, `.${name}.prev.${stamp}.tmp`);
    mkdirSync(tmpPrev);
    for (const part of PARTS) linkSync(p[part], join(tmpPrev, part));
    renameSync(tmpPrev, prev);
  }
  failpoint(`${name}:before-weights`);
  renameSync(tmpW, p.weights);
  failpoint(`${name}:between-renames`);
  renameSync(tmpS, p.state);
  failpoint(`${name}:before-manifest`);
  writeFileAtomic(p.json, JSON.stringify(json(files), null, 2) + '\n');
  failpoint(`${name}:after-manifest`);
  rmSync(prev, { recursive: true, force: true });
}

export interface UnitInspection {
  ok: boolean;
  /** Why the unit is not whole (absent json included). */
  problem?: string;
  json?: Record<string, unknown>;
}

/** Checks a unit against its manifest without changing anything. */
export function inspectUnit(dir: string, name: string, base: Partial<Record<'weights' | 'state' | 'json', string>> = {}): UnitInspection {
  const p = { ...unitPaths(dir, name), ...base };
  if (!existsSync(p.json)) return { ok: false, problem: `${p.json}: missing` };
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(p.json, 'utf8')) as Record<string, unknown>;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
  } catch (e) {
    return { ok: false, problem: `${p.json}: not valid JSON (${(e as Error).message})` };
  }
  const files = json.files as CheckpointManifest | undefined;
  // units written before the manifest existed are taken as they are
  if (!files) return { ok: true, json };
  for (const part of ['weights', 'state'] as const) {
    const want = files[part];
    if (!want || typeof want.sha256 !== 'string') return { ok: false, problem: `${p.json}: manifest entry '${part}' is malformed`, json };
    if (!existsSync(p[part])) return { ok: false, problem: `${p[part]}: missing (its manifest ${p.json} names it)`, json };
    const got = digest(readFileSync(p[part]));
    if (got.bytes !== want.bytes || got.sha256 !== want.sha256)
      return {
        ok: false,
        problem: `${p[part]}: does not match its manifest ${p.json} (${got.bytes} bytes, sha256 ${got.sha256.slice(0, 12)}…; the manifest names ${want.bytes} bytes, ${want.sha256.slice(0, 12)}…): a save was interrupted or the file was changed`,
        json,
      };
  }
  return { ok: true, json };
}

/**
 * Makes the unit whole if it can: a unit that fails its manifest is replaced by the previous one
 * kept aside by an interrupted save (roll back). Returns what it did; CheckpointError when the unit
 * is broken and nothing whole is left to roll back to.
 */
export function repairCheckpoint(dir: string, name: string): 'absent' | 'ok' | 'rolled-back' {
  const p = unitPaths(dir, name);
  const prev = prevDir(dir, name);
  const cur = inspectUnit(dir, name);
  if (cur.ok) {
    rmSync(prev, { recursive: true, force: true });
    return 'ok';
  }
  const aside = existsSync(prev) ? inspectUnit(dir, name, { weights: join(prev, 'weights'), state: join(prev, 'state'), json: join(prev, 'json') }) : null;
  if (aside?.ok) {
    // json first: until the data files are back, the unit stays visibly inconsistent
    rmSync(p.json, { force: true });
    renameSync(join(prev, 'weights'), p.weights);
    renameSync(join(prev, 'state'), p.state);
    renameSync(join(prev, 'json'), p.json);
    rmSync(prev, { recursive: true, force: true });
    return 'rolled-back';
  }
  if (!existsSync(p.json)) {
    rmSync(prev, { recursive: true, force: true });
    return 'absent';
  }
  throw new CheckpointError(`${name} in ${dir} is inconsistent and cannot be rolled back: ${cur.problem}; start the fold again with --force (or continue from a copy)`);
}

/** Reads a whole unit (after `repairCheckpoint`); CheckpointError when it fails its manifest. */
export function readCheckpointUnit(dir: string, name: string): { json: Record<string, unknown>; weights: Uint8Array; state: Uint8Array } | null {
  const p = unitPaths(dir, name);
  if (!existsSync(p.json)) return null;
  const r = inspectUnit(dir, name);
  if (!r.ok) throw new CheckpointError(`${r.problem}`);
  return { json: r.json!, weights: readFileSync(p.weights), state: readFileSync(p.state) };
}
