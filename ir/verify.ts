import { Ajv } from 'ajv';
import { checkFusedNode } from './fused.js';
import { irSchema } from './schema.js';
import type { IRModel } from './types.js';

const validate = new Ajv({ allErrors: true, strict: false }).compile(irSchema);

/**
 * The IR verifier: the JSON Schema plus the structural rules a schema cannot say (inputs
 * defined before use, parameters referenced exist, outputs exist, fused ops well formed). Returns problems, empty when valid.
 */
export function verifyIR(ir: unknown): string[] {
  const problems: string[] = [];
  if (!validate(ir)) {
    for (const e of validate.errors ?? []) problems.push(`${e.instancePath || '/'}: ${e.message}`);
    return problems;
  }
  const m = ir as IRModel;
  const defined = new Set<string>();
  const params = new Set(m.parameters.map((p) => p.name));
  if (params.size !== m.parameters.length) problems.push('parameter names are not unique');
  for (const n of m.nodes) {
    for (const i of n.inputs) if (!defined.has(i)) problems.push(`node ${n.id} reads ${i}, which no earlier node produces`);
    for (const p of Object.values(n.params)) if (!params.has(p)) problems.push(`node ${n.id} uses parameter ${p}, which is not in the parameter list`);
    problems.push(...checkFusedNode(n));
    if (defined.has(n.id)) problems.push(`node id ${n.id} is used twice`);
    defined.add(n.id);
  }
  for (const o of m.outputs) if (!defined.has(o)) problems.push(`output ${o} is not produced by any node`);
  return problems;
}
