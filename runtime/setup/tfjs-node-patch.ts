import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { SetupError } from './setup-error.js';

/**
 * Source changes `mnxc setup tensorflow` makes to tfjs-node's addon before compiling it. Each is
 * applied to the pristine file (kept as `<file>.orig`), so a rebuild never patches twice, and
 * named in the setup stamp, so a build without a newer patch is rebuilt.
 */
export interface BindingPatch {
  name: string;
  file: string;
  /** Text the patch goes right after; it must occur exactly once. */
  anchor: string;
  insert: string;
}

export const BINDING_PATCHES: readonly BindingPatch[] = [
  {
    // tfjs-node passes a string attribute only as one string. TensorFlow's fused kernels
    // (_FusedMatMul: matrix product and bias in one pass over the output) take a list of
    // strings, `fused_ops`; this sets list(string) attributes from a JS array.
    name: 'string-list-attrs',
    file: join('binding', 'tfjs_backend.cc'),
    anchor: '    case TF_ATTR_STRING: {\n',
    insert: `      if (IsArray(env, nstatus, &js_value)) {  // mnxc: list(string)
        uint32_t length;
        nstatus = napi_get_array_length(env, js_value, &length);
        ENSURE_NAPI_OK(env, nstatus);
        std::unique_ptr<std::string[]> strings(new std::string[length]);
        std::unique_ptr<const void *[]> values(new const void *[length]);
        std::unique_ptr<size_t[]> lengths(new size_t[length]);
        for (uint32_t i = 0; i < length; ++i) {
          napi_value element;
          nstatus = napi_get_element(env, js_value, i, &element);
          ENSURE_NAPI_OK(env, nstatus);
          nstatus = GetStringParam(env, element, strings[i]);
          ENSURE_NAPI_OK(env, nstatus);
          values[i] = strings[i].data();
          lengths[i] = strings[i].size();
        }
        TFE_OpSetAttrStringList(tfe_op, attr_name, values.get(), lengths.get(), static_cast<int>(length));
        break;
      }
`,
  },
];

/** The names recorded in the setup stamp. */
export const BINDING_PATCH_NAMES: readonly string[] = BINDING_PATCHES.map((p) => p.name);

/**
 * Applies the patches to the tfjs-node package in `packageDir` (each file from its pristine
 * copy) and returns the names of those applied. One that does not fit this tfjs-node's source
 * is left out with a line to `log`: the addon then builds as published, and the runtime, which
 * probes for what a patch adds, does without it.
 */
export function patchBinding(packageDir: string, log: (line: string) => void): string[] {
  const applied: string[] = [];
  for (const file of new Set(BINDING_PATCHES.map((p) => p.file))) {
    const target = join(packageDir, file);
    const original = `${target}.orig`;
    const patches = BINDING_PATCHES.filter((q) => q.file === file);
    const current = readFileSync(target, 'utf8');
    // The pristine copy is stale when the file is neither it nor it patched (tfjs-node reinstalled).
    const kept = existsSync(original) ? readFileSync(original, 'utf8') : null;
    if (kept === null || (current !== kept && current !== applyAll(kept, patches))) writeFileAtomic(original, current);
    let text = readFileSync(original, 'utf8');
    for (const p of patches) {
      try {
        text = applyPatch(text, p);
        applied.push(p.name);
      } catch (e) {
        log(`${(e as Error).message}; building without it`);
      }
    }
    writeFileAtomic(target, text);
  }
  return applied;
}

/** `text` with `patch` inserted after its anchor; refuses a source the patch was not written for. */
export function applyPatch(text: string, patch: BindingPatch): string {
  const at = text.indexOf(patch.anchor);
  if (at < 0 || text.indexOf(patch.anchor, at + 1) >= 0) {
    throw new SetupError(`tfjs-node's ${patch.file} is not the version mnxc's '${patch.name}' change was written for (its anchor ${at < 0 ? 'is missing' : 'occurs twice'})`);
  }
  const end = at + patch.anchor.length;
  return text.slice(0, end) + patch.insert + text.slice(end);
}

/** `text` with every patch applied, or null when one does not fit. */
function applyAll(text: string, patches: readonly BindingPatch[]): string | null {
  try {
    return patches.reduce((t, p) => applyPatch(t, p), text);
  } catch {
    return null;
  }
}
