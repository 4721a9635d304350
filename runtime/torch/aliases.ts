import type { SafeTensor, TensorMap } from '../io/safetensors.js';
import { CheckpointError } from './errors.js';

/**
 * nnU-Net v2 (dynamic_network_architectures) state_dicts name many tensors two or three times:
 * `ConvDropoutNormReLU` keeps `conv`/`norm` both as attributes and inside `all_modules`
 * (`.all_modules.0` = conv, `.all_modules.1` = norm without dropout, `.all_modules.2` with it),
 * and `UNetDecoder` keeps the whole encoder again under `decoder.encoder.`. This folds every
 * alias onto its canonical name (the one `named_parameters()` reports) after checking that the
 * aliased tensors are identical; a disagreement is an error naming both keys.
 */
function canonicalName(name: string, names: Set<string>): string {
  let n = name.startsWith('decoder.encoder.') ? name.slice('decoder.'.length) : name;
  const m = n.match(/^(.*)\.all_modules\.(\d+)\.(weight|bias)$/);
  if (m) {
    const [, prefix, idx, leaf] = m;
    // The conv is always module 0; the norm follows it, after a dropout if there is one.
    const candidates = idx === '0' ? ['conv'] : ['norm'];
    for (const c of candidates) {
      if (names.has(`${prefix}.${c}.${leaf}`) || names.has(`decoder.${prefix}.${c}.${leaf}`)) {
        n = `${prefix}.${c}.${leaf}`;
        break;
      }
    }
  }
  return n;
}

function same(a: SafeTensor, b: SafeTensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export function foldNnunetAliases(tensors: TensorMap, what: string): { tensors: TensorMap; folded: number } {
  const names = new Set(tensors.keys());
  const out: TensorMap = new Map();
  const from = new Map<string, string>();
  let folded = 0;
  for (const [name, t] of tensors) {
    const canon = canonicalName(name, names);
    const prev = out.get(canon);
    if (prev) {
      if (!same(prev, t)) throw new CheckpointError(`${what}: '${name}' is an alias of '${from.get(canon)}' but holds different values`);
      folded++;
      continue;
    }
    out.set(canon, t);
    from.set(canon, name);
  }
  return { tensors: out, folded };
}
