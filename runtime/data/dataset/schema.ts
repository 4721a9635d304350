import { Ajv, type ErrorObject } from 'ajv';

/**
 * JSON Schemas of the two dataset.json forms:
 *  - nnU-Net v2: `channel_names {"0": "CT"}`, `labels {"background": 0, "tumor": 1, "region": [1, 2]}`,
 *    `numTraining`, `file_ending`; optional `regions_class_order`, `dataset` (explicit file lists).
 *  - MSD / nnU-Net v1: `modality {"0": "T1"}`, `labels {"0": "background"}` (int → name),
 *    `training [{image, label}]`, `test [path]`.
 */

const channelMap = {
  type: 'object',
  minProperties: 1,
  propertyNames: { pattern: '^(0|[1-9][0-9]*)$' },
  additionalProperties: { type: 'string' },
} as const;

export const datasetJsonV2Schema = {
  type: 'object',
  required: ['channel_names', 'labels', 'numTraining', 'file_ending'],
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    channel_names: channelMap,
    labels: {
      type: 'object',
      required: ['background'],
      properties: { background: { const: 0 } },
      additionalProperties: {
        oneOf: [
          { type: 'integer', minimum: 0 },
          { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } },
        ],
      },
    },
    numTraining: { type: 'integer', minimum: 0 },
    file_ending: { type: 'string', pattern: '^\\.' },
    regions_class_order: { type: 'array', items: { type: 'integer', minimum: 0 } },
    dataset: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['images'],
        properties: { images: { type: 'array', minItems: 1, items: { type: 'string' } }, label: { type: 'string' } },
      },
    },
  },
} as const;

export const datasetJsonMsdSchema = {
  type: 'object',
  required: ['modality', 'labels', 'training'],
  properties: {
    name: { type: 'string' },
    modality: channelMap,
    labels: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^(0|[1-9][0-9]*)$' },
      additionalProperties: { type: 'string' },
    },
    numTraining: { type: 'integer', minimum: 0 },
    numTest: { type: 'integer', minimum: 0 },
    training: {
      type: 'array',
      items: {
        type: 'object',
        required: ['image', 'label'],
        properties: { image: { type: 'string', minLength: 1 }, label: { type: 'string', minLength: 1 } },
      },
    },
    test: {
      type: 'array',
      items: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'object', required: ['image'], properties: { image: { type: 'string' } } }] },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
export const validateV2 = ajv.compile(datasetJsonV2Schema);
export const validateMsd = ajv.compile(datasetJsonMsdSchema);

/** One line per schema error, naming the field as a JSON path (e.g. `labels.tumor`). */
export function describeSchemaErrors(errors: ErrorObject[] | null | undefined): string[] {
  const lines = new Set<string>();
  for (const e of errors ?? []) {
    // oneOf/anyOf repeat their branches' errors; the branch errors say more.
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf') continue;
    let field = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    let msg = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      field = field ? `${field}.${missing}` : missing;
      msg = 'is missing';
    } else if (e.keyword === 'propertyNames') {
      msg = `has a key ${JSON.stringify((e.params as { propertyName: string }).propertyName)} that is not a channel/label index (0, 1, 2, …)`;
    } else if (e.keyword === 'const') {
      msg = `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    } else if (e.keyword === 'pattern' && field === 'file_ending') {
      msg = 'must start with "." (e.g. ".nii.gz")';
    }
    lines.add(`${field || '(top level)'} ${msg}`);
  }
  return [...lines];
}
