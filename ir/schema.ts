/** JSON Schema of the IR (model.ir.json), checked with ajv by `verifyIR`. The enums come from types.ts. */
import { CHECKPOINT_STYLES, IR_OPS, PARAM_INITS, PARAM_ROLES } from './types.js';

const span = {
  type: 'object',
  required: ['file', 'line', 'col', 'length'],
  properties: { file: { type: 'string' }, line: { type: 'integer', minimum: 1 }, col: { type: 'integer', minimum: 1 }, length: { type: 'integer', minimum: 1 } },
  additionalProperties: false,
};
const shape = {
  type: 'object',
  required: ['channels', 'spatial'],
  properties: {
    channels: { type: 'integer', minimum: 1 },
    spatial: { anyOf: [{ type: 'null' }, { type: 'array', items: { type: 'integer', minimum: 1 }, maxItems: 8 }] },
    dims: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, maxItems: 8 },
  },
  additionalProperties: false,
};

export const irSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'mnxc IR',
  type: 'object',
  required: ['irVersion', 'name', 'variant', 'spatialDims', 'arguments', 'input', 'nodes', 'outputs', 'parameters', 'hints'],
  additionalProperties: false,
  properties: {
    irVersion: { const: 1 },
    name: { type: 'string', minLength: 1 },
    variant: { type: ['string', 'null'] },
    spatialDims: { enum: [2, 3] },
    arguments: { type: 'object' },
    input: shape,
    outputs: { type: 'array', items: { type: 'string' }, minItems: 1 },
    hints: { type: 'object', required: ['checkpointStyle'], properties: { checkpointStyle: { enum: CHECKPOINT_STYLES } }, additionalProperties: false },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'op', 'inputs', 'attrs', 'params', 'out', 'block', 'stage', 'span', 'origin'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', minLength: 1 },
          op: { enum: IR_OPS },
          inputs: { type: 'array', items: { type: 'string' } },
          attrs: { type: 'object', additionalProperties: { type: ['number', 'boolean', 'string', 'array'] } },
          params: { type: 'object', additionalProperties: { type: 'string' } },
          out: shape,
          block: { type: 'string' },
          stage: { type: 'string' },
          span,
          origin: { type: 'array', items: { type: 'object', required: ['what', 'span'], properties: { what: { type: 'string' }, span }, additionalProperties: false } },
        },
      },
    },
    parameters: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'shape', 'role', 'init', 'trainable'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          shape: { type: 'array', items: { type: 'integer', minimum: 1 } },
          role: { enum: PARAM_ROLES },
          init: { enum: PARAM_INITS },
          value: { type: 'number' },
          fanIn: { type: 'number' },
          initA: { type: 'number' },
          std: { type: 'number' },
          recipe: { type: 'object' },
          trainable: { type: 'boolean' },
        },
      },
    },
  },
} as const;
