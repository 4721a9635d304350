/**
 * The IR: what the compiler hands to every back end (runtime, summary, code generator, UpKern).
 *
 * A flat, topologically ordered list of primitive operations over named tensors. Every
 * parameter tensor is named with its official PyTorch `state_dict` key and stored in PyTorch's
 * layout (`Conv3d` `[out, in/groups, *k]`, `ConvTranspose3d` `[in, out/groups, *k]`); the runtime
 * converts layouts at its boundary. Activations are described layout-free: `channels` plus the
 * spatial extent (D, H, W for 3-D; H, W for 2-D). Nothing here refers to the CST or AST.
 */

export const IR_VERSION = 1;

/** Where something came from in a `.mnx` file (1-based line and column). */
export interface SourceSpan {
  file: string;
  line: number;
  col: number;
  /** Length of the underlined text on that line. */
  length: number;
}

/** One step of the chain from an expanded node back to the line the user wrote. */
export interface OriginStep {
  /** e.g. "block 'mednext_block' used", "repeat 2 of 3", "scaling rule width.small" */
  what: string;
  span: SourceSpan;
}

/**
 * The shape of one sample of an activation (the batch axis is never written).
 *
 * A feature map (every op of the MedNeXt and nnU-Net networks) has `channels` and the spatial
 * extent, and no `dims`. A general tensor (token sequences `[tokens, features]`, per-head
 * `[heads, tokens, dim]`, window stacks, …) has `dims`, its per-sample shape in PyTorch order
 * (`[B, ...dims]` in PyTorch); for it `channels` is the last entry of `dims` and `spatial` the
 * others, so `channels × prod(spatial)` is the element count for either kind.
 */
export interface ActShape {
  channels: number;
  /** Spatial extent; null where no input size was given (checks that need sizes are skipped). */
  spatial: number[] | null;
  /** Per-sample shape of a general (non-feature-map) tensor, PyTorch order. */
  dims?: number[];
}

/** Every operation the IR has: the one list the type, the JSON Schema and the verifier share. */
export const IR_OPS = [
  'input',
  'conv', // dense or grouped convolution; attrs: kernel, stride, padding, groups, bias (+ standardize: weight standardisation eps)
  'conv_transpose', // transposed convolution; attrs: kernel, stride, padding, groups, bias
  'pad', // constant zero padding; attrs: before, after (per spatial axis)
  'avg_pool', // average pooling, window = stride, no padding (PyTorch AvgPool3d(k=s, stride=s)); attrs: stride (per spatial axis)
  'group_norm', // attrs: groups, eps, affine (groups == channels: one group per channel, = InstanceNorm)
  'layer_norm', // normalise over channels at each voxel (MedNeXt's channels_first LayerNorm); attrs: eps
  'gelu', // exact erf GELU
  'leaky_relu', // attrs: slope
  'relu',
  'grn', // global response normalisation (ConvNeXt-V2), MedNeXt form; attrs: eps; params gamma, beta [1, C, 1, 1(, 1)]
  'add', // element-wise sum of all inputs
  'concat', // channel concatenation, inputs in order; attrs.axis (optional): the per-sample axis of general tensors
  'output', // marks a network output; attrs: index (0 = full resolution)
  // General tensors (out.dims set). Axes count the per-sample axes (the batch axis is not one).
  'channels_last', // feature map [C, *spatial] → general [*spatial, C] (PyTorch: permute channels last)
  'feature_map', // general [*spatial, C] → feature map [C, *spatial]
  'reshape', // attrs: shape (the per-sample output shape); C-order, as torch.reshape
  'permute', // attrs: axes (output axis i is input axis axes[i])
  'slice', // attrs: axis, start, end, step
  'roll', // cyclic shift (torch.roll); attrs: shifts, axes
  'linear', // nn.Linear over the last axis: y = x·Wᵀ + b; params weight [out, in], bias [out]
  'matmul', // batched matrix product of the last two axes, leading axes broadcast; attrs: transpose_b
  'softmax', // attrs: axis
  'scale', // x · factor; attrs: factor
  'binary', // broadcasting element-wise op of two tensors (numpy rules on the per-sample shapes); attrs: fn (add, sub, mul, div)
  'parameter', // a learned free tensor (position embedding, layer scale, bias table); params value; out.dims = its shape
  'buffer', // a constant tensor computed at compile time from attrs.recipe (relative position index, window masks); params value when it is a state_dict buffer
  'gather', // rows of input 0 (a table [T, ...]) picked by the integer tensor input 1: out = [...index dims, ...table dims[1:]]
  'mean', // mean over one axis; attrs: axis, keepdim
  'max_pool', // max pooling of a feature map; attrs: kernel, stride, padding (per spatial axis)
  'upsample', // resize of a feature map by an integer factor; attrs: scale, mode ('bilinear'), align_corners
  'batch_norm', // BatchNorm with its running statistics (eval mode) over the channels (the last axis of general tensors); attrs: eps
  // Fused ops: produced only by the rewrite passes (ir/rewrites/), never by the compiler; see ir/fused.ts.
  'fused_pointwise', // 1×1×1 conv with a prologue (group_norm | gelu) and/or an epilogue (gelu | add)
  'fused_norm_gelu_pointwise', // GroupNorm → 1×1×1 conv → GELU → 1×1×1 conv
] as const;

export type IROp = (typeof IR_OPS)[number];

/** What a parameter tensor is and how it is laid out (so weight import/export and UpKern need no guessing). */
export const PARAM_ROLES = [
  'conv_weight', // [out, in/groups, *k]
  'conv_transpose_weight', // [in, out/groups, *k]
  'bias',
  'norm_weight',
  'norm_bias',
  'grn_gamma',
  'grn_beta',
  'dummy', // MedNeXt's unused `dummy_tensor` ([1], value 1): written for PyTorch's strict loading, not counted
  'linear_weight', // nn.Linear weight [out, in]
  'free', // a free parameter (position embedding, layer scale gamma, relative position bias table), shape as declared
  'buffer', // an integer state_dict buffer (relative_position_index from a recipe, BatchNorm's num_batches_tracked; int64 in files); not a parameter, not counted
  'stat', // a float state_dict buffer (BatchNorm running_mean / running_var); not a parameter, not counted, not trained
] as const;

/**
 * Initialisations a new model uses: PyTorch's defaults for the module that owns a parameter, or what
 * the spec asked for (`kaiming_normal`: N(0, gain²/fan_in), gain = √(2 / (1 + initA²)), PyTorch's
 * `kaiming_normal_(a=initA)`, as nnU-Net's `InitWeights_He`; `trunc_normal` with `std`, truncated at
 * ±2; `constant` with `value`; `recipe`: a buffer computed from its recipe).
 */
export const PARAM_INITS = ['kaiming_uniform', 'fan_in_uniform', 'kaiming_normal', 'zeros', 'ones', 'trunc_normal', 'constant', 'recipe'] as const;

/** Gradient checkpointing styles a spec can ask for. */
export const CHECKPOINT_STYLES = ['none', 'outside_block'] as const;

export interface IRParam {
  /** Official state_dict key, e.g. `enc_block_0.1.conv1.weight`. */
  name: string;
  shape: number[];
  /** How the tensor is laid out and what it is (see PARAM_ROLES). */
  role: (typeof PARAM_ROLES)[number];
  /** Initialisation a new model uses (see PARAM_INITS). */
  init: (typeof PARAM_INITS)[number];
  /** The fill value of `constant` (e.g. a layer scale's 1e-6). */
  value?: number;
  /** Standard deviation of `trunc_normal` (truncated at ±2). */
  std?: number;
  /** For `recipe` buffers: how the value is computed (see ir/buffers.ts). */
  recipe?: Record<string, unknown>;
  /** fan_in for the PyTorch default init (`1/sqrt(fan_in)` bounds) and for `kaiming_normal`. */
  fanIn?: number;
  /** The negative slope `a` of `kaiming_normal` (only with that init). */
  initA?: number;
  trainable: boolean;
}

export interface IRNode {
  /** Unique tensor name produced by this node (e.g. `enc_block_0.1.conv1`, `dec_3.add`). */
  id: string;
  op: IROp;
  inputs: string[];
  attrs: Record<string, number | number[] | boolean | string>;
  /** Role → parameter name, e.g. { weight: 'stem.weight', bias: 'stem.bias' }. */
  params: Record<string, string>;
  out: ActShape;
  /**
   * The module path of the block this op belongs to (e.g. `enc_block_0.1`): the unit of
   * gradient checkpointing, and the row a summary groups by.
   */
  block: string;
  /** The stage (e.g. `enc_block_0`, `down_0`, `bottleneck`, `out_0`) the op is reported under. */
  stage: string;
  span: SourceSpan;
  origin: OriginStep[];
}

export interface IRModel {
  irVersion: typeof IR_VERSION;
  /** Model name as written in the spec (e.g. `MedNeXt`). */
  name: string;
  /** Variant applied, if any. */
  variant: string | null;
  spatialDims: 2 | 3;
  /** Every model parameter after defaults, variant and overrides (JSON values). */
  arguments: Record<string, unknown>;
  input: ActShape;
  nodes: IRNode[];
  /** Node ids of the outputs, index 0 (full resolution) first. */
  outputs: string[];
  /**
   * Parameter tensors grouped as PyTorch groups them (a module's own parameters, then its
   * children in creation order). For MedNeXt this is exactly the official `state_dict` order;
   * for specs whose modules are created in another order than PyTorch registers them (nnU-Net's
   * decoder), names and shapes agree and only the order differs.
   */
  parameters: IRParam[];
  /** Training hints that do not change the function computed. */
  hints: { checkpointStyle: (typeof CHECKPOINT_STYLES)[number] };
}
