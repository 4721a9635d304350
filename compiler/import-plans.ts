import { dirname, relative, resolve } from 'node:path';

/**
 * nnU-Net v2 plans → .mnx: turns `configurations.<cfg>.architecture` of an nnU-Net plans file
 * into a spec deriving from examples/nnunet.mnx's PlainConvUNet or, for the ResEnc presets'
 * plans (nnUNetResEncUNet{M,L,XL}Plans.json), examples/resenc.mnx's ResidualEncoderUNet. Only
 * what those networks can express is accepted; unknown network classes, operators or arguments are reported, never
 * guessed. `input_channels` and `num_classes` come from dataset.json (as nnU-Net's
 * get_network_from_plans does) or the caller.
 */
export class PlansImportError extends Error {}

interface Architecture {
  network_class_name?: unknown;
  arch_kwargs?: Record<string, unknown>;
  _kw_requires_import?: unknown;
}

const COMMON_KWARGS = [
  'n_stages', 'features_per_stage', 'conv_op', 'kernel_sizes', 'strides', 'n_conv_per_stage_decoder',
  'conv_bias', 'norm_op', 'norm_op_kwargs', 'dropout_op', 'dropout_op_kwargs', 'nonlin', 'nonlin_kwargs', 'deep_supervision',
];

/** The network classes a plans file may name, the spec that expresses each, and its own arguments. */
interface Family {
  model: string;
  /** The per-stage list of encoder depth: convs (plain) or residual blocks (ResEnc). */
  depth: string;
  known: Set<string>;
}
const PLAIN: Family = { model: 'PlainConvUNet', depth: 'n_conv_per_stage', known: new Set([...COMMON_KWARGS, 'n_conv_per_stage', 'nonlin_first']) };
const RESENC: Family = { model: 'ResidualEncoderUNet', depth: 'n_blocks_per_stage', known: new Set([...COMMON_KWARGS, 'n_blocks_per_stage', 'block', 'bottleneck_channels', 'stem_channels']) };

function familyOf(cls: string): Family | null {
  if (/(^|\.)PlainConvUNet$/.test(cls)) return PLAIN;
  if (/(^|\.)ResidualEncoderUNet$/.test(cls)) return RESENC;
  return null;
}

function configuration(plans: Record<string, unknown>, name: string, file: string, seen: string[] = []): Record<string, unknown> {
  const configs = plans.configurations as Record<string, Record<string, unknown>> | undefined;
  if (!configs || typeof configs !== 'object') throw new PlansImportError(`${file}: no 'configurations' object (is this an nnU-Net v2 plans file?)`);
  const c = configs[name];
  if (!c) throw new PlansImportError(`${file}: no configuration '${name}' (configurations: ${Object.keys(configs).join(', ')})`);
  const parent = c.inherits_from;
  if (typeof parent === 'string') {
    if (seen.includes(parent)) throw new PlansImportError(`${file}: configurations inherit in a cycle: ${[...seen, name, parent].join(' → ')}`);
    const base = configuration(plans, parent, file, [...seen, name]);
    return { ...base, ...c, architecture: { ...(base.architecture as object), ...(c.architecture as object) } };
  }
  return c;
}

export interface ImportPlansOptions {
  configuration?: string;
  inputChannels: number;
  numClasses: number;
  /** Where the generated spec will be written (for the relative import path). */
  outputPath: string;
  /** Path of examples/nnunet.mnx. */
  familyPath: string;
  /** Path of examples/resenc.mnx (default: resenc.mnx next to familyPath). */
  resencPath?: string;
  source: string;
}

export function importPlans(plans: Record<string, unknown>, o: ImportPlansOptions): string {
  const cfgName = o.configuration ?? '3d_fullres';
  const cfg = configuration(plans, cfgName, o.source);
  const arch = cfg.architecture as Architecture | undefined;
  const where = `${o.source}: configurations.${cfgName}.architecture`;
  if (!arch || typeof arch !== 'object') throw new PlansImportError(`${where} is missing (plans written by nnU-Net before v2.4 describe the network differently; re-plan with a current nnU-Net)`);
  const cls = String(arch.network_class_name ?? '');
  const fam = familyOf(cls);
  if (!fam) throw new PlansImportError(`${where}.network_class_name: '${cls}' is not supported (mnxc expresses PlainConvUNet, examples/nnunet.mnx, and ResidualEncoderUNet, examples/resenc.mnx)`);
  const kw = arch.arch_kwargs ?? {};
  const problems: string[] = [];
  for (const k of Object.keys(kw)) if (!fam.known.has(k)) problems.push(`arch_kwargs.${k}: unknown argument${fam === PLAIN && k === 'n_blocks_per_stage' ? ' of PlainConvUNet' : fam === RESENC && k === 'n_conv_per_stage' ? ' of ResidualEncoderUNet (its encoder depth is n_blocks_per_stage)' : ''}`);
  if (fam === RESENC) {
    if (kw.block !== undefined && kw.block !== null && !/(^|\.)BasicBlockD$/.test(String(kw.block))) problems.push(`arch_kwargs.block: '${String(kw.block)}' is not supported (BasicBlockD only)`);
    if (kw.bottleneck_channels !== undefined && kw.bottleneck_channels !== null) problems.push('arch_kwargs.bottleneck_channels: only null is supported (BasicBlockD has no bottleneck)');
    const f0 = Array.isArray(kw.features_per_stage) ? kw.features_per_stage[0] : undefined;
    if (kw.stem_channels !== undefined && kw.stem_channels !== null && kw.stem_channels !== f0) problems.push(`arch_kwargs.stem_channels: ${JSON.stringify(kw.stem_channels)} is not supported (the stem has features_per_stage[0] channels)`);
  }
  const conv = String(kw.conv_op ?? '');
  const dims = /Conv3d$/.test(conv) ? 3 : /Conv2d$/.test(conv) ? 2 : 0;
  if (!dims) problems.push(`arch_kwargs.conv_op: '${conv}' is not torch.nn Conv2d or Conv3d`);
  const norm = String(kw.norm_op ?? '');
  if (!/InstanceNorm[23]d$/.test(norm)) problems.push(`arch_kwargs.norm_op: '${norm}' is not supported (InstanceNorm2d/3d only)`);
  const normKw = (kw.norm_op_kwargs ?? {}) as Record<string, unknown>;
  if (normKw.affine === false) problems.push('arch_kwargs.norm_op_kwargs.affine: false is not supported (affine norms only)');
  const eps = normKw.eps ?? 1e-5;
  if (typeof eps !== 'number' || eps !== 1e-5) problems.push(`arch_kwargs.norm_op_kwargs.eps: ${JSON.stringify(eps)} is not supported (1e-5 only)`);
  if (kw.dropout_op !== null && kw.dropout_op !== undefined) problems.push(`arch_kwargs.dropout_op: '${String(kw.dropout_op)}' is not supported (no dropout)`);
  const nonlin = String(kw.nonlin ?? '');
  if (!/LeakyReLU$/.test(nonlin)) problems.push(`arch_kwargs.nonlin: '${nonlin}' is not supported (LeakyReLU only)`);
  if (kw.nonlin_first === true) problems.push('arch_kwargs.nonlin_first: true is not supported');
  const slope = ((kw.nonlin_kwargs ?? {}) as Record<string, unknown>).negative_slope ?? 0.01;
  const ints = (k: string) => {
    const v = kw[k];
    if (!Array.isArray(v)) problems.push(`arch_kwargs.${k}: missing or not a list`);
    return v;
  };
  const fields: [string, unknown][] = [
    ['input_channels', o.inputChannels],
    ['n_stages', kw.n_stages],
    ['features_per_stage', ints('features_per_stage')],
    ['kernel_sizes', ints('kernel_sizes')],
    ['strides', ints('strides')],
    [fam.depth, ints(fam.depth)],
    ['num_classes', o.numClasses],
    ['n_conv_per_stage_decoder', ints('n_conv_per_stage_decoder')],
    ['conv_bias', kw.conv_bias ?? false],
    ['negative_slope', slope],
  ];
  if (typeof kw.n_stages !== 'number') problems.push('arch_kwargs.n_stages: missing or not a number');
  if (problems.length) throw new PlansImportError(`${where}:\n  ${problems.join('\n  ')}`);
  const familyPath = fam === PLAIN ? o.familyPath : (o.resencPath ?? resolve(dirname(o.familyPath), 'resenc.mnx'));
  let family = relative(dirname(resolve(o.outputPath)), resolve(familyPath)).split('\\').join('/');
  if (!family.startsWith('.')) family = `./${family}`;
  const name = `${String(plans.dataset_name ?? 'nnUNet').replace(/[^A-Za-z0-9_]/g, '_')}_${cfgName.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const lit = (v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? String(v) : JSON.stringify(v)).replace(/,/g, ', ');
  // The plan's patch and batch size (what a ResEnc preset's memory target chose) go with the network.
  const planned = [Array.isArray(cfg.patch_size) ? `patch ${(cfg.patch_size as number[]).join('×')}` : '', typeof cfg.batch_size === 'number' ? `batch ${cfg.batch_size}` : ''].filter(Boolean);
  const patch = planned.length ? ` (${planned.join(', ')})` : '';
  return [
    `# Generated by mnxc import-plans from ${o.source}, configuration ${cfgName}${patch}.`,
    `# ${cls} with nnU-Net's arguments; input_channels and num_classes from the dataset.`,
    `import "${family}"`,
    '',
    `model ${/^[A-Za-z_]/.test(name) ? name : 'm_' + name} = ${fam.model} {`,
    ...fields.map(([k, v]) => `  ${k} = ${lit(v)}`),
    '}',
    '',
  ].join('\n');
}
