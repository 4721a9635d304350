import { Project, VariableDeclarationKind, type SourceFile } from 'ts-morph';
import type { IRModel, IRNode, IRParam } from '../../ir/types.js';

/**
 * Code generation (ts-morph): a TypeScript module that runs the same network as the IR, as
 * straight-line calls into the runtime's operations (`ops` of the package's public runtime entry,
 * `mnxc/runtime`), so it works in any program that depends on mnxc. It exports
 *   parameters — every parameter tensor (state_dict name, PyTorch shape, role, init),
 *   forward(param, input) — the network on a channels-last input, outputs in IR order,
 * where `param(name)` returns a parameter in the runtime layout (runtime/weights/layout.ts),
 * e.g. `(n) => model.variables.get(n)!` of an `MnxModel`. Nothing here imports TF.js: the
 * generated text does (through `mnxc/runtime`, which re-exports it as `tf`).
 */
export interface TypeScriptOptions {
  /** Module the generated file imports `ops`, `tf` and `IRParam` from (default `mnxc/runtime`). */
  runtimeImport?: string;
  /** First line comment: where the model came from. */
  source?: string;
}

const ident = (id: string) => 't_' + id.replace(/[^A-Za-z0-9_]/g, '_');

function triple(v: number[], dims: number, fill: number): string {
  return JSON.stringify(dims === 2 ? [fill, ...v] : v);
}

function call(n: IRNode, ir: IRModel, depthwise: (n: IRNode) => boolean): string {
  const d = ir.spatialDims;
  const a = n.attrs;
  const x = n.inputs.map(ident);
  const p = (role: string) => (n.params[role] ? `param(${JSON.stringify(n.params[role])})` : 'undefined');
  switch (n.op) {
    case 'input':
      return d === 2 ? 'tf.expandDims(input, 1)' : 'input';
    case 'conv':
    case 'conv_transpose': {
      const dw = depthwise(n);
      if (typeof a.standardize === 'number') {
        return `ops.conv3d(${x[0]}, ops.standardizeFilter(${p('weight')}, ${a.standardize}, "last"), ${triple(a.stride as number[], d, 1)}, ${triple(a.padding as number[], d, 0)}, ${p('bias')})`;
      }
      if (n.op === 'conv' && (a.groups as number) > 1 && !dw) return `ops.groupedConv3d(${x[0]}, ${p('weight')}, ${a.groups}, ${triple(a.stride as number[], d, 1)}, ${triple(a.padding as number[], d, 0)}, ${p('bias')})`;
      const fn = n.op === 'conv' ? (dw ? 'depthwiseConv3d' : 'conv3d') : dw ? 'depthwiseConvTranspose3d' : 'convTranspose3d';
      return `ops.${fn}(${x[0]}, ${p('weight')}, ${triple(a.stride as number[], d, 1)}, ${triple(a.padding as number[], d, 0)}, ${p('bias')})`;
    }
    case 'pad':
      if (n.out.dims) return `ops.padAxes(${x[0]}, ${JSON.stringify(a.before)}, ${JSON.stringify(a.after)})`;
      return `ops.pad(${x[0]}, ${triple(a.before as number[], d, 0)}, ${triple(a.after as number[], d, 0)})`;
    case 'avg_pool':
      return `ops.avgPool(${x[0]}, ${triple(a.stride as number[], d, 1)})`;
    case 'group_norm':
      return `ops.groupNorm(${x[0]}, ${a.groups}, ${a.eps}, ${p('weight')}, ${p('bias')})`;
    case 'layer_norm':
      return `ops.layerNorm(${x[0]}, ${a.eps}, ${p('weight')}, ${p('bias')})`;
    case 'gelu':
      return `ops.gelu(${x[0]})`;
    case 'relu':
      return `ops.relu(${x[0]})`;
    case 'leaky_relu':
      return `ops.leakyRelu(${x[0]}, ${a.slope})`;
    case 'grn':
      return `ops.grn(${x[0]}, ${p('gamma')}!, ${p('beta')}!, ${a.eps})`;
    case 'add':
      return `ops.add([${x.join(', ')}])`;
    case 'concat':
      return `ops.concat([${x.join(', ')}])`;
    case 'output':
      return d === 2 ? `tf.squeeze(${x[0]}, [1])` : x[0]!;
    case 'fused_pointwise':
    case 'fused_norm_gelu_pointwise':
      throw new Error(`${n.id}: ${n.op} is made by the runtime's rewrites; the generator takes IR as compiled`);
    case 'channels_last':
      return `ops.channelsLast(${x[0]}, ${JSON.stringify(n.out.dims)})`;
    case 'feature_map':
      return `ops.featureMap(${x[0]}, ${JSON.stringify(n.out.spatial)}, ${n.out.channels})`;
    case 'reshape':
      return `ops.reshape(${x[0]}, ${JSON.stringify(n.out.dims)})`;
    case 'permute':
      return `ops.permute(${x[0]}, ${JSON.stringify(a.axes)})`;
    case 'slice':
      return `ops.slice(${x[0]}, ${a.axis}, ${a.start}, ${a.end}, ${a.step})`;
    case 'roll':
      return `ops.roll(${x[0]}, ${JSON.stringify(a.shifts)}, ${JSON.stringify(a.axes)})`;
    case 'linear':
      return `ops.linear(${x[0]}, ${p('weight')}, ${p('bias')})`;
    case 'matmul':
      return `ops.matmul(${x[0]}, ${x[1]}, ${a.transpose_b === true})`;
    case 'softmax':
      return `ops.softmax(${x[0]}, ${a.axis})`;
    case 'scale':
      return `ops.scale(${x[0]}, ${a.factor})`;
    case 'binary':
      return `ops.binary(${x[0]}, ${x[1]}, ${JSON.stringify(a.fn)})`;
    case 'parameter':
      return `ops.parameter(${p('value')}, ${JSON.stringify(n.out.dims)})`;
    case 'buffer':
      return n.params.value ? `ops.parameter(${p('value')}, ${JSON.stringify(n.out.dims)})` : `buffer(${JSON.stringify(n.attrs)})`;
    case 'gather':
      return `ops.gather(${x[0]}, ${x[1]})`;
    case 'mean':
      return `ops.mean(${x[0]}, ${a.axis}, ${a.keepdim === true})`;
    case 'max_pool':
      return `ops.maxPool(${x[0]}, ${triple(a.kernel as number[], d, 1)}, ${triple(a.stride as number[], d, 1)}, ${triple(a.padding as number[], d, 0)})`;
    case 'upsample':
      return `ops.upsampleBilinear(${x[0]}, ${a.scale}, ${a.align_corners === true})`;
    case 'batch_norm':
      return `ops.batchNorm(${x[0]}, ${p('running_mean')}, ${p('running_var')}, ${a.eps}, ${p('weight')}, ${p('bias')})`;
  }
}

/** One parameter as an object literal: `{ name: "stem.weight", shape: [32, 1, 1, 1, 1], … }`. */
function paramLiteral(p: IRParam): string {
  return `{ ${Object.entries(p)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join(', ')} }`;
}

export function generateTypeScript(ir: IRModel, options: TypeScriptOptions = {}): string {
  const runtime = options.runtimeImport ?? 'mnxc/runtime';
  const project = new Project({ useInMemoryFileSystem: true });
  const file: SourceFile = project.createSourceFile('model.gen.ts', '', { overwrite: true });
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const depthwise = (n: IRNode) => {
    const cin = byId.get(n.inputs[0]!)!.out.channels;
    return (n.attrs.groups as number) > 1 && n.attrs.groups === cin && n.out.channels === cin;
  };
  file.addStatements(`// Generated by mnxc from ${options.source ?? 'an .mnx spec'} (model ${ir.name}${ir.variant ? `, variant ${ir.variant}` : ''}). Do not edit.`);
  const needsBuffers = ir.nodes.some((n) => n.op === 'buffer' && !n.params.value);
  file.addImportDeclaration({ namedImports: ['ops', 'tf', ...(needsBuffers ? ['bufferValues'] : []), { name: 'IRParam', isTypeOnly: true }], moduleSpecifier: runtime });
  if (needsBuffers) {
    // Constant tensors (window masks) from their recipe, batch 1.
    file.addStatements('const buffer = (recipe: Record<string, unknown>) => { const v = bufferValues(recipe); return tf.tensor(v.data, [1, ...v.shape]); };');
  }
  file.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    docs: ['Parameter tensors: official state_dict names, PyTorch shapes.'],
    declarations: [{ name: 'parameters', type: 'IRParam[]', initializer: `[\n${ir.parameters.map((p) => `  ${paramLiteral(p)},`).join('\n')}\n]` }],
  });
  file.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: 'inputChannels', initializer: String(ir.input.channels) }],
  });
  const body: string[] = ['return tf.tidy(() => {'];
  for (const n of ir.nodes) body.push(`  const ${ident(n.id)} = ${call(n, ir, depthwise)};`);
  body.push(`  return [${ir.outputs.map(ident).join(', ')}];`, '});');
  file.addFunction({
    isExported: true,
    name: 'forward',
    docs: [`Runs ${ir.name} on a channels-last input ([N, ${ir.spatialDims === 3 ? 'D, H, W' : 'H, W'}, ${ir.input.channels}]); outputs full resolution first.`],
    parameters: [
      { name: 'param', type: '(name: string) => tf.Tensor' },
      { name: 'input', type: 'tf.Tensor' },
    ],
    returnType: 'tf.Tensor[]',
    statements: body,
  });
  file.formatText({ indentSize: 2 });
  return file.getFullText();
}
