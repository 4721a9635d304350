/**
 * The plans file: everything planning decides and training / prediction read, in YAML, validated by
 * a JSON Schema (ajv) on every load. Keys in the file and in the `Plans` type are the same
 * (snake_case), so there is no mapping layer to drift.
 *
 * Axis convention: every per-axis list (spacing, shapes, patch, mirror axes) is in array order
 * (d0, d1, d2) = the NIfTI voxel axes (k, j, i) — nnU-Net's order (SimpleITK arrays are z, y, x) and
 * the D, H, W of the runtime's NDHWC tensors.
 *
 * Defaults are MedNeXt's (nnU-Net v1 trainer values as `nnUNetTrainerV2_MedNeXt` overrides them); each
 * value cites its origin in `docs` of the schema. A plans file may leave out any section that has a
 * default; loading fills it in.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import YAML, { LineCounter } from 'yaml';
import { PlansError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import type { ChannelNormalization, NormalizationScheme } from '../preprocess/normalize.js';

export type Triple = [number, number, number];

export interface ChannelPlan extends ChannelNormalization {
  /** Channel index, as in the image file names `{case}_{XXXX}`. */
  channel: number;
  /** Modality name from dataset.json (`CT`, `T1`, …). */
  name: string;
  scheme: NormalizationScheme;
}

export interface Plans {
  version: 1;
  dataset: {
    name: string;
    /** Modality per channel, index = channel. */
    channels: string[];
    /** Label value → name; values are consecutive from 0. */
    labels: Record<string, string>;
    num_training: number;
    /**
     * nnU-Net v2's ignore label (`labels.ignore` in dataset.json): voxels with this value are left
     * out of the loss and the pseudo Dice. Not one of `labels`, which are the classes predicted.
     */
    ignore_label?: number;
    /**
     * Region-based training (nnU-Net v2 style; BraTS): each region is a set of label values trained
     * as one sigmoid output with Dice + BCE; predictions are thresholded at 0.5 and written back as
     * labels by `regions_class_order` (region i's voxels get its value, later regions overwrite).
     */
    regions?: { name: string; labels: number[] }[];
    regions_class_order?: number[];
  };
  /** Fingerprint file the statistics came from (relative to the plans file). */
  fingerprint: string;
  preprocessing: {
    /** Target spacing in mm, array order. */
    target_spacing: Triple;
    /** How it was chosen: fixed (MedNeXt 1 mm) or nnU-Net's median rule. */
    target_spacing_rule: 'fixed' | 'median';
    transpose_forward: Triple;
    transpose_backward: Triple;
    crop_to_nonzero: boolean;
    /** Spacing ratio above which the coarse axis is resampled separately (nearest neighbour). */
    anisotropy_threshold: number;
    resampling: {
      image: { order: 0 | 1 | 3; order_z: 0 };
      label: { order: 0 | 1; order_z: 0 };
    };
    normalization: ChannelPlan[];
    /** Median case shape after cropping and resampling to the target spacing (array order). */
    median_shape: Triple;
    class_locations: { max_per_class: number; min_fraction: number; seed: number };
  };
  model: {
    /** Path of the `.mnx` architecture (relative to the plans file or absolute). */
    spec: string;
    variant?: string;
    /** Parameter overrides, as `--set k=v`. */
    set: Record<string, number | string | boolean>;
  };
  training: {
    /**
     * '3d' (default) or '2d': nnU-Net's 2-D configuration trains a 2-D network on one-slice patches
     * (patch_size [1, H, W]) with in-plane augmentation, and predicts slice by slice.
     */
    configuration: '3d' | '2d';
    epochs: number;
    iterations_per_epoch: number;
    val_iterations_per_epoch: number;
    batch_size: number;
    patch_size: Triple;
    optimizer: { name: 'adamw' | 'sgd'; lr: number; weight_decay: number; eps: number; betas: [number, number]; momentum: number; nesterov: boolean };
    lr_schedule: { name: 'poly' | 'constant'; exponent: number };
    grad_clip_norm: number;
    oversample_foreground: number;
    /** `dice_ce`: softmax, Dice + CE (nnU-Net); `dice_bce`: sigmoid per region, Dice + BCE (region-based training). */
    loss: { name: 'dice_ce' | 'dice_bce'; batch_dice: boolean; smooth: number; do_background: boolean; weight_ce: number; weight_dice: number };
    deep_supervision: { enabled: boolean; weights: number[] };
    /** Exponential moving average factor of the validation Dice that picks the best checkpoint. */
    best_metric_ema: number;
    checkpoint_every: number;
    /**
     * Recompute each block's forward pass in backprop (the paper's `outside_block` style):
     * 'auto' follows the spec's `hint checkpoint_style` (on for MedNeXt M and L), 'off' never.
     */
    gradient_checkpointing: 'auto' | 'off';
    seed: number;
  };
  augmentation: {
    rotation: { p: number; max_degrees: Triple };
    scaling: { p: number; range: [number, number] };
    elastic: { p: number };
    gaussian_noise: { p: number; variance: [number, number] };
    gaussian_blur: { p: number; p_per_channel: number; sigma: [number, number] };
    brightness: { p: number; range: [number, number] };
    contrast: { p: number; range: [number, number] };
    low_resolution: { p: number; p_per_channel: number; zoom: [number, number] };
    gamma_inverted: { p: number; range: [number, number]; retain_stats: boolean };
    gamma: { p: number; range: [number, number]; retain_stats: boolean };
    mirror: { p_per_axis: number; axes: number[] };
    /** In-plane-only augmentation for anisotropic patches (nnU-Net's do_dummy_2D_data_aug). */
    dummy_2d: boolean;
  };
  inference: {
    step_size: number;
    gaussian_sigma_scale: number;
    tta: boolean;
    mirror_axes: number[];
  };
  splits: { n_folds: number; seed: number; file: string };
}

/** MedNeXt's deep-supervision weights: 1/2^i over 6 scales, the coarsest 0, renormalised; 5 outputs kept. */
export const MEDNEXT_DS_WEIGHTS: number[] = (() => {
  const w = [1, 0.5, 0.25, 0.125, 0.0625];
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
})();

const num = (extra: object = {}) => ({ type: 'number', ...extra });
/**
 * Whole numbers with sane bounds: JSON Schema's 'integer' alone takes 1e300 (a whole number), so
 * every integer also has a maximum (by default 2^31 - 1; tighter where the field says so).
 */
const INT_MAX = 2 ** 31 - 1;
const int = (extra: object = {}) => ({ type: 'integer', maximum: INT_MAX, ...extra });
const prob = (d: number) => num({ minimum: 0, maximum: 1, default: d });
const pair = (d: [number, number], extra: object = {}) => ({ type: 'array', items: num(extra), minItems: 2, maxItems: 2, default: d });
const triple = (items: object, d?: Triple) => ({ type: 'array', items, minItems: 3, maxItems: 3, ...(d ? { default: d } : {}) });
const obj = (properties: Record<string, object>, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  properties,
  required,
});

/** JSON Schema of the plans file (draft 2019-09 subset ajv 8 runs); `default`s are filled in on load. */
export const plansSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'dataset', 'preprocessing'],
  properties: {
    version: { const: 1 },
    dataset: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'channels', 'labels', 'num_training'],
      properties: {
        name: { type: 'string', minLength: 1 },
        channels: { type: 'array', items: { type: 'string' }, minItems: 1 },
        labels: { type: 'object', additionalProperties: { type: 'string' }, propertyNames: { pattern: '^(0|[1-9][0-9]*)$' }, minProperties: 2 },
        num_training: int({ minimum: 1 }),
        ignore_label: int({ minimum: 1, maximum: 127 }),
        regions: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'labels'],
            properties: { name: { type: 'string', minLength: 1 }, labels: { type: 'array', minItems: 1, items: int({ minimum: 1, maximum: 127 }) } },
          },
        },
        regions_class_order: { type: 'array', minItems: 1, items: int({ minimum: 1, maximum: 255 }) },
      },
    },
    fingerprint: { type: 'string', default: 'fingerprint.json' },
    preprocessing: {
      type: 'object',
      additionalProperties: false,
      required: ['target_spacing', 'normalization', 'median_shape'],
      properties: {
        target_spacing: triple(num({ exclusiveMinimum: 0 })),
        target_spacing_rule: { enum: ['fixed', 'median'], default: 'fixed' },
        transpose_forward: triple(int({ minimum: 0, maximum: 2 }), [0, 1, 2]),
        transpose_backward: triple(int({ minimum: 0, maximum: 2 }), [0, 1, 2]),
        crop_to_nonzero: { type: 'boolean', default: true },
        anisotropy_threshold: num({ exclusiveMinimum: 1, default: 3 }),
        resampling: obj({
          image: obj({ order: { enum: [0, 1, 3], default: 3 }, order_z: { const: 0, default: 0 } }),
          label: obj({ order: { enum: [0, 1], default: 1 }, order_z: { const: 0, default: 0 } }),
        }),
        normalization: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['channel', 'name', 'scheme'],
            properties: {
              channel: int({ minimum: 0 }),
              name: { type: 'string' },
              scheme: { enum: ['CT', 'zscore', 'noNorm'] },
              use_nonzero_mask: { type: 'boolean', default: false },
              mean: num(),
              std: num({ exclusiveMinimum: 0 }),
              lower: num(),
              upper: num(),
            },
            if: { properties: { scheme: { const: 'CT' } } },
            then: { required: ['mean', 'std', 'lower', 'upper'] },
          },
        },
        median_shape: triple(int({ minimum: 1, maximum: 100_000 })),
        class_locations: obj({
          max_per_class: int({ minimum: 1, maximum: 10_000_000, default: 10000 }),
          min_fraction: prob(0.01),
          seed: int({ minimum: 0, default: 1234 }),
        }),
      },
    },
    model: obj({
      spec: { type: 'string', default: '' },
      variant: { type: 'string' },
      set: { type: 'object', additionalProperties: { type: ['number', 'string', 'boolean'] }, default: {} },
    }),
    training: obj({
      configuration: { enum: ['3d', '2d'], default: '3d' },
      epochs: int({ minimum: 1, maximum: 1_000_000, default: 1000 }),
      iterations_per_epoch: int({ minimum: 1, maximum: 10_000_000, default: 250 }),
      val_iterations_per_epoch: int({ minimum: 0, maximum: 10_000_000, default: 50 }),
      batch_size: int({ minimum: 1, maximum: 4096, default: 2 }),
      patch_size: triple(int({ minimum: 1, maximum: 4096 }), [128, 128, 128]),
      optimizer: obj({
        name: { enum: ['adamw', 'sgd'], default: 'adamw' },
        lr: num({ exclusiveMinimum: 0, default: 1e-3 }),
        weight_decay: num({ minimum: 0, default: 3e-5 }),
        eps: num({ exclusiveMinimum: 0, default: 1e-4 }),
        betas: pair([0.9, 0.999], { minimum: 0, exclusiveMaximum: 1 }),
        momentum: num({ minimum: 0, maximum: 1, default: 0.99 }),
        nesterov: { type: 'boolean', default: true },
      }),
      lr_schedule: obj({ name: { enum: ['poly', 'constant'], default: 'poly' }, exponent: num({ minimum: 0, default: 0.9 }) }),
      grad_clip_norm: num({ minimum: 0, default: 12 }),
      oversample_foreground: prob(0.33),
      loss: obj({
        name: { enum: ['dice_ce', 'dice_bce'], default: 'dice_ce' },
        batch_dice: { type: 'boolean', default: false },
        smooth: num({ minimum: 0, default: 1e-5 }),
        do_background: { type: 'boolean', default: false },
        weight_ce: num({ minimum: 0, default: 1 }),
        weight_dice: num({ minimum: 0, default: 1 }),
      }),
      deep_supervision: obj({
        enabled: { type: 'boolean', default: true },
        weights: { type: 'array', items: num({ minimum: 0 }), minItems: 1, default: MEDNEXT_DS_WEIGHTS },
      }),
      best_metric_ema: prob(0.9),
      checkpoint_every: int({ minimum: 1, default: 50 }),
      gradient_checkpointing: { enum: ['auto', 'off'], default: 'auto' },
      seed: int({ minimum: 0, default: 0 }),
    }),
    augmentation: obj({
      rotation: obj({ p: prob(0.2), max_degrees: triple(num({ minimum: 0, maximum: 180 }), [30, 30, 30]) }),
      scaling: obj({ p: prob(0.2), range: pair([0.7, 1.4], { exclusiveMinimum: 0 }) }),
      elastic: obj({ p: prob(0) }),
      gaussian_noise: obj({ p: prob(0.1), variance: pair([0, 0.1], { minimum: 0 }) }),
      gaussian_blur: obj({ p: prob(0.2), p_per_channel: prob(0.5), sigma: pair([0.5, 1], { minimum: 0 }) }),
      brightness: obj({ p: prob(0.15), range: pair([0.75, 1.25], { minimum: 0 }) }),
      contrast: obj({ p: prob(0.15), range: pair([0.75, 1.25], { minimum: 0 }) }),
      low_resolution: obj({ p: prob(0.25), p_per_channel: prob(0.5), zoom: pair([0.5, 1], { exclusiveMinimum: 0, maximum: 1 }) }),
      gamma_inverted: obj({ p: prob(0.1), range: pair([0.7, 1.5], { exclusiveMinimum: 0 }), retain_stats: { type: 'boolean', default: true } }),
      gamma: obj({ p: prob(0.3), range: pair([0.7, 1.5], { exclusiveMinimum: 0 }), retain_stats: { type: 'boolean', default: true } }),
      mirror: obj({ p_per_axis: prob(0.5), axes: { type: 'array', items: int({ minimum: 0, maximum: 2 }), uniqueItems: true, default: [0, 1, 2] } }),
      dummy_2d: { type: 'boolean', default: false },
    }),
    inference: obj({
      step_size: num({ exclusiveMinimum: 0, maximum: 1, default: 0.5 }),
      gaussian_sigma_scale: num({ exclusiveMinimum: 0, default: 0.125 }),
      tta: { type: 'boolean', default: true },
      mirror_axes: { type: 'array', items: int({ minimum: 0, maximum: 2 }), uniqueItems: true, default: [0, 1, 2] },
    }),
    splits: obj({
      n_folds: int({ minimum: 2, maximum: 1000, default: 5 }),
      seed: int({ minimum: 0, default: 12345 }),
      file: { type: 'string', default: 'splits_final.json' },
    }),
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validatePlans = ajv.compile(plansSchema);

/** `training.batch_size`, `preprocessing.normalization[0].scheme`, … from an ajv instance path. */
function fieldOf(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out || '(top level)';
}

function describe(e: ErrorObject): { field: string; message: string; path: (string | number)[] } {
  const path = e.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  if (e.keyword === 'additionalProperties') {
    const key = (e.params as { additionalProperty: string }).additionalProperty;
    return { field: fieldOf(e.instancePath, key), message: 'unknown field', path: [...path, key] };
  }
  if (e.keyword === 'required') {
    const key = (e.params as { missingProperty: string }).missingProperty;
    return { field: fieldOf(e.instancePath, key), message: 'is required', path };
  }
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
    return { field: fieldOf(e.instancePath), message: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`, path };
  }
  return { field: fieldOf(e.instancePath), message: e.message ?? 'is invalid', path };
}

/**
 * Validates (and fills defaults into) a parsed plans object. Throws a PlansError listing every problem
 * as `FILE:LINE: field.path: message` (the line when the YAML document is given).
 */
export function validatePlansObject(value: unknown, file: string, doc?: { document: YAML.Document; lines: LineCounter }): Plans {
  if (validatePlans(value)) {
    const p = value as unknown as Plans;
    const n = p.preprocessing.normalization.map((c) => c.channel);
    if (n.length !== p.dataset.channels.length || n.some((c, i) => c !== i))
      throw new PlansError(`${file}: preprocessing.normalization: needs one entry per channel, channels 0..${p.dataset.channels.length - 1} in order`);
    const { regions, regions_class_order: order } = p.dataset;
    if ((regions === undefined) !== (order === undefined) || (regions && order && regions.length !== order.length))
      throw new PlansError(`${file}: dataset.regions_class_order: needs one label value per region of dataset.regions (and only with regions)`);
    if (p.training.configuration === '2d' && p.training.patch_size[0] !== 1)
      throw new PlansError(`${file}: training.patch_size: a 2-D configuration trains on one slice, [1, H, W] (got ${JSON.stringify(p.training.patch_size)})`);
    if ((p.training.loss.name === 'dice_bce') !== (regions !== undefined))
      throw new PlansError(`${file}: training.loss.name: ${regions ? "region-based training (dataset.regions) needs 'dice_bce'" : "'dice_bce' needs dataset.regions"}`);
    if (p.dataset.ignore_label !== undefined && String(p.dataset.ignore_label) in p.dataset.labels)
      throw new PlansError(`${file}: dataset.ignore_label: ${p.dataset.ignore_label} is also one of dataset.labels; the ignore label is not a class`);
    return p;
  }
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const e of validatePlans.errors ?? []) {
    if (e.keyword === 'if') continue;
    const d = describe(e);
    const text = `${d.field}: ${d.message}`;
    if (seen.has(text)) continue;
    seen.add(text);
    let where = file;
    if (doc) {
      const node = doc.document.getIn(d.path, true) as { range?: [number, number, number] } | undefined;
      if (node?.range) where += `:${doc.lines.linePos(node.range[0]).line}`;
    }
    lines.push(`${where}: ${text}`);
  }
  throw new PlansError(lines.join('\n'));
}

/** Parses plans YAML text; `file` names it in errors. */
export function parsePlans(text: string, file: string): Plans {
  const lines = new LineCounter();
  const document = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (document.errors.length > 0) {
    const e = document.errors[0]!;
    const line = lines.linePos(e.pos[0]).line;
    throw new PlansError(`${file}${line ? `:${line}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  let value: unknown;
  try {
    // yaml stops alias bombs (anchors expanding to millions of nodes) here, with a ReferenceError
    value = document.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new PlansError(`${file}: cannot be read as plans: ${(e as Error).message.split('\n')[0]} (too many alias expansions: a YAML alias bomb?)`);
  }
  return validatePlansObject(value, file, { document, lines });
}

/** Reads, validates and completes a plans file. */
export function loadPlans(path: string): Plans {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PlansError(`${path}: cannot read the plans: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parsePlans(text, path);
}

const HEADER = [
  '# mnxc plans: written by `mnxc plan`, read by `mnxc preprocess`, `mnxc train` and `mnxc predict`.',
  '# Per-axis lists are in array order (d0, d1, d2) = NIfTI voxel axes (k, j, i), as nnU-Net (z, y, x).',
  '# Any section with defaults may be removed; loading fills the defaults back in.',
  '',
].join('\n');

/** Object keys in the schema's order, so every plans file reads the same way. */
function canonical(value: unknown, schema: { properties?: Record<string, unknown>; items?: unknown }): unknown {
  if (Array.isArray(value)) return value.map((v) => canonical(v, (schema.items ?? {}) as typeof schema));
  if (value === null || typeof value !== 'object') return value;
  const props = schema.properties ?? {};
  const entries = Object.entries(value as Record<string, unknown>);
  const rank = (k: string) => {
    const i = Object.keys(props).indexOf(k);
    return i < 0 ? Infinity : i;
  };
  entries.sort((a, b) => rank(a[0]) - rank(b[0]));
  return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v, (props[k] ?? {}) as typeof schema)]));
}

export function stringifyPlans(plans: Plans): string {
  const doc = new YAML.Document(canonical(plans, plansSchema as never));
  // short lists of numbers or strings read best on one line: [1, 1, 1]
  YAML.visit(doc, {
    Seq(_, node) {
      if (node.items.every((i) => YAML.isScalar(i))) node.flow = true;
    },
  });
  return HEADER + doc.toString({ lineWidth: 0 });
}

/**
 * The plans as a copy at `toPath` would say them: `model.spec` and `fingerprint` are relative to the
 * plans file, so each relative one is re-expressed from `toPath`'s folder (absolute ones and an
 * empty spec are kept). For every command that writes the plans it read somewhere else
 * (`mnxc preprocess`'s copy in the output folder, the queue's).
 */
export function relocatePlans(plans: Plans, fromPath: string, toPath: string): Plans {
  const move = (p: string) => (p === '' || isAbsolute(p) ? p : relative(dirname(toPath), join(dirname(fromPath), p)) || '.');
  return { ...plans, fingerprint: move(plans.fingerprint), model: { ...plans.model, spec: move(plans.model.spec) } };
}

/** Validates, then writes the plans atomically. */
export function savePlans(path: string, plans: Plans): void {
  const copy = structuredClone(plans);
  validatePlansObject(copy, path);
  writeFileAtomic(path, stringifyPlans(copy));
}

export interface DefaultPlansInput {
  dataset: Plans['dataset'];
  target_spacing: Triple;
  target_spacing_rule?: 'fixed' | 'median';
  normalization: ChannelPlan[];
  median_shape: Triple;
  patch_size?: Triple;
  batch_dice?: boolean;
  model?: Partial<Plans['model']>;
}

/** Complete plans from the dataset-dependent values; everything else takes its default. */
export function defaultPlans(input: DefaultPlansInput): Plans {
  const partial = {
    version: 1,
    dataset: input.dataset,
    preprocessing: {
      target_spacing: input.target_spacing,
      target_spacing_rule: input.target_spacing_rule ?? 'fixed',
      normalization: input.normalization,
      median_shape: input.median_shape,
    },
    model: { spec: '', set: {}, ...input.model },
    training: {
      ...(input.patch_size ? { patch_size: input.patch_size } : {}),
      loss: { batch_dice: input.batch_dice ?? false },
    },
  };
  return validatePlansObject(structuredClone(partial), '(default plans)');
}

/** Channels the network predicts: one per region (region-based training) or one per label, background included. */
export function predictedChannels(plans: Plans): number {
  return plans.dataset.regions ? plans.dataset.regions.length : Object.keys(plans.dataset.labels).length;
}
