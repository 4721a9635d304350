/** JSON Schema of the IR (model.ir.json), checked with ajv by `verifyIR`. */
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
    hints: { type: 'object', required: ['checkpointStyle'], properties: { checkpointStyle: { enum: ['none', 'outside_block'] } }, additionalProperties: false },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'op', 'inputs', 'attrs', 'params', 'out', 'block', 'stage', 'span', 'origin'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', minLength: 1 },
          op: { enum: ['input', 'conv', 'conv_transpose', 'pad', 'group_norm', 'layer_norm', 'gelu', 'leaky_relu', 'relu', 'grn', 'add', 'concat', 'output', 'channels_last', 'feature_map', 'reshape', 'permute', 'slice', 'roll', 'linear', 'matmul', 'softmax', 'scale', 'binary', 'parameter', 'buffer', 'gather', 'mean', 'batch_norm', 'max_pool', 'upsample'] },
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
          role: { enum: ['conv_weight', 'conv_transpose_weight', 'bias', 'norm_weight', 'norm_bias', 'grn_gamma', 'grn_beta', 'dummy', 'linear_weight', 'free', 'buffer', 'stat'] },
          init: { enum: ['kaiming_uniform', 'fan_in_uniform', 'zeros', 'ones', 'trunc_normal', 'constant', 'recipe'] },
          value: { type: 'number' },
          fanIn: { type: 'number' },
          std: { type: 'number' },
          recipe: { type: 'object' },
          trainable: { type: 'boolean' },
        },
      },
    },
  },
} as const;
