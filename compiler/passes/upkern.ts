/**
 * UpKern's weight map (MedNeXt, Roy et al. 2023): how to initialise a target network from a
 * trained source network whose architecture differs only in kernel sizes.
 *
 * Parameters are matched by their state_dict name:
 * - `copy`: same shape;
 * - `resample`: same rank and dims 0 and 1, different spatial (kernel) extent — resized with
 *   PyTorch's (bi/tri)linear `F.interpolate(align_corners=False)` when applied; growing is the
 *   paper's case, shrinking needs `allowShrink` and warns;
 * - `fresh`: only in the target (initialised as a new model would be);
 * - `dropped`: only in the source.
 * Anything else (channels or rank differ) is an error that names the tensor, both shapes and
 * the spec lines that made each.
 *
 * Pure data in, data out: no tensor library, so the map can be shown and checked before any
 * weights are read.
 */

import type { IRNode, IRParam } from '../../ir/types.js';
import type { WeightMap, WeightMapEntry } from '../../ir/weight-map.js';

export type { WeightAction, WeightMap, WeightMapEntry } from '../../ir/weight-map.js';

/** What the map needs from an IR (an `IRModel` fits); `nodes` give source lines for messages. */
export interface ParamSource {
  parameters: IRParam[];
  nodes?: IRNode[];
}

export interface WeightMapOptions {
  /** Allow resampling a kernel to a smaller size (the reverse of UpKern). */
  allowShrink?: boolean;
}

const fmtShape = (s: number[]): string => `[${s.join(', ')}]`;

/** `file:line:col` of the node owning each parameter, with the expansion chain when there is one. */
function locator(src: ParamSource): (name: string) => string {
  const where = new Map<string, string>();
  for (const node of src.nodes ?? []) {
    for (const p of Object.values(node.params)) {
      if (where.has(p)) continue;
      const s = node.span;
      let text = `${s.file}:${s.line}:${s.col}`;
      if (node.origin.length > 0) {
        text += node.origin.map((o) => `, ${o.what} at ${o.span.file}:${o.span.line}`).join('');
      }
      where.set(p, text);
    }
  }
  return (name) => where.get(name) ?? 'no source line known';
}

export function computeWeightMap(source: ParamSource, target: ParamSource, options: WeightMapOptions = {}): WeightMap {
  const entries: WeightMapEntry[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  const srcWhere = locator(source);
  const dstWhere = locator(target);

  const index = (params: IRParam[], side: string): Map<string, IRParam> => {
    const m = new Map<string, IRParam>();
    for (const p of params) {
      if (m.has(p.name)) errors.push(`'${p.name}' appears twice in the ${side} network's parameters`);
      m.set(p.name, p);
    }
    return m;
  };
  const src = index(source.parameters, 'source');
  const dst = index(target.parameters, 'target');

  for (const t of target.parameters) {
    const s = src.get(t.name);
    if (!s) {
      entries.push({ name: t.name, action: 'fresh', from: null, to: [...t.shape] });
      continue;
    }
    const both = `source ${fmtShape(s.shape)} (${srcWhere(t.name)}) and target ${fmtShape(t.shape)} (${dstWhere(t.name)})`;
    if (s.role !== t.role) {
      warnings.push(`'${t.name}' is a ${s.role} in the source but a ${t.role} in the target`);
    }
    if (s.shape.length === t.shape.length && s.shape.every((d, i) => d === t.shape[i])) {
      entries.push({ name: t.name, action: 'copy', from: [...s.shape], to: [...t.shape] });
      continue;
    }
    if (s.shape.length !== t.shape.length) {
      errors.push(`'${t.name}': ${both} differ in rank`);
      continue;
    }
    if (s.shape.length < 3) {
      errors.push(`'${t.name}': ${both} differ in size and have no kernel axes to resample`);
      continue;
    }
    if (s.shape[0] !== t.shape[0] || s.shape[1] !== t.shape[1]) {
      errors.push(`'${t.name}': ${both} differ in channels (dims 0 and 1); only kernel sizes may change`);
      continue;
    }
    const srcK = s.shape.slice(2);
    const dstK = t.shape.slice(2);
    if (dstK.some((d, i) => d < srcK[i]!)) {
      const what = `'${t.name}': kernel shrinks from ${srcK.join('×')} to ${dstK.join('×')}`;
      if (!options.allowShrink) {
        errors.push(`${what} (${both}); UpKern grows kernels — allow shrinking explicitly to resample down`);
        continue;
      }
      warnings.push(`${what}: resampled down, which discards detail the source kernel learnt`);
    }
    entries.push({ name: t.name, action: 'resample', from: [...s.shape], to: [...t.shape] });
  }
  for (const s of source.parameters) {
    if (!dst.has(s.name)) entries.push({ name: s.name, action: 'dropped', from: [...s.shape], to: null });
  }
  return { entries, errors, warnings };
}

/** The map as a fixed-width table: name, action, source shape → target shape. */
export function formatWeightMap(map: WeightMap): string {
  const shape = (s: number[] | null): string => (s ? fmtShape(s) : '—');
  const rows = map.entries.map((e) => [e.name, e.action, `${shape(e.from)} → ${shape(e.to)}`]);
  const head = ['name', 'action', 'source shape → target shape'];
  const w0 = Math.max(head[0]!.length, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(head[1]!.length, ...rows.map((r) => r[1]!.length));
  const line = (r: string[]): string => `${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(w1)}  ${r[2]}`;
  const counts = (['copy', 'resample', 'fresh', 'dropped'] as const)
    .map((a) => `${map.entries.filter((e) => e.action === a).length} ${a}`)
    .join(', ');
  return [line(head), ...rows.map(line), '', counts].join('\n');
}
