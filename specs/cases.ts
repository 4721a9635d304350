/**
 * Golden cases: every example and variant is compiled and its IR, summary and generated
 * TypeScript compared with the baselines in specs/baselines/. `npm run accept` (MNXC_ACCEPT=1)
 * rewrites baselines on purpose; CI never does.
 */
export interface GoldenCase {
  name: string;
  spec: string;
  variant?: string;
  set?: string[];
  inputSize: number[];
}

/** A small 2-D ResidualEncoderUNet (anisotropic last stride, so a pooled skip without projection appears too). */
export const RESENC_2D = ['n_stages=4', 'features_per_stage=[4, 8, 16, 16]', 'kernel_sizes=[[3, 3]] * 4', 'strides=[[1, 1], [2, 2], [2, 2], [1, 2]]', 'n_blocks_per_stage=[1, 2, 2, 2]', 'n_conv_per_stage_decoder=[1, 1, 1]', 'num_classes=2'];

const paper = ['S', 'B', 'M', 'L'].flatMap((v) => [3, 5].map((k) => ({ name: `mednext_${v}_k${k}`, spec: `examples/paper/mednext_${v}_k${k}.mnx`, inputSize: [128, 128, 128] })));

/** unetr_tiny's constructor arguments (tests/fixtures/baselines-reference/unetr_tiny.json). */
export const UNETR_TINY = ['in_channels=1', 'out_channels=3', 'img_size=[32, 48, 32]', 'feature_size=4', 'hidden_size=32', 'mlp_dim=64', 'num_heads=4', 'proj_type="conv"', 'qkv_bias=false'];

/** transunet_tiny's configuration (tests/fixtures/baselines-reference/transunet_tiny.json). */
export const TRANSUNET_TINY = ['hidden_size=24', 'transformer_num_layers=2', 'transformer_num_heads=4', 'transformer_mlp_dim=48', 'resnet_num_layers=[2, 1, 1]', 'resnet_width_factor=0.5', 'patches_grid=[4, 4]', 'decoder_channels=[12, 8, 6, 4]', 'skip_channels=[256, 128, 32, 8]', 'n_classes=3', 'img_size=64', 'num_classes=3'];

export const goldenCases: GoldenCase[] = [
  { name: 'mednext_default', spec: 'examples/mednext.mnx', inputSize: [128, 128, 128] },
  ...['S', 'B', 'M', 'L'].map((v) => ({ name: `mednext_variant_${v}_ds`, spec: 'examples/mednext.mnx', variant: v, set: ['deep_supervision=true', 'n_classes=3'], inputSize: [128, 128, 128] })),
  ...paper,
  { name: 'ablation_standard_resampling', spec: 'examples/ablations/standard_resampling.mnx', inputSize: [128, 128, 128] },
  { name: 'ablation_no_block_residual', spec: 'examples/ablations/no_block_residual.mnx', inputSize: [128, 128, 128] },
  { name: 'tiny', spec: 'examples/tiny.mnx', inputSize: [32, 32, 32] },
  { name: 'user_blocks', spec: 'specs/user_blocks.mnx', inputSize: [32, 32, 32] },
  { name: 'tiny_layer_norm_grn_2d', spec: 'examples/tiny.mnx', set: ['norm_type="layer"', 'grn=true', 'dim="2d"'], inputSize: [32, 32] },
  // nnU-Net's ResidualEncoderUNet: the resenc_iso fixture's network, and a small 2-D one.
  { name: 'resenc_iso_ds', spec: 'examples/resenc.mnx', set: ['n_stages=5', 'features_per_stage=[4, 8, 16, 24, 24]', 'kernel_sizes=[[3, 3, 3]] * 5', 'strides=[[1, 1, 1]] + [[2, 2, 2]] * 4', 'n_blocks_per_stage=[1, 3, 4, 6, 6]', 'n_conv_per_stage_decoder=[1, 1, 1, 1]', 'deep_supervision=true'], inputSize: [64, 64, 64] },
  { name: 'resenc_2d', spec: 'examples/resenc.mnx', set: RESENC_2D, inputSize: [32, 32] },
  // The paper's baselines (examples/baselines/): the paper configuration, and the fixture's small one.
  { name: 'unetr_96', spec: 'examples/baselines/unetr.mnx', inputSize: [96, 96, 96] },
  { name: 'unetr_tiny', spec: 'examples/baselines/unetr.mnx', set: UNETR_TINY, inputSize: [32, 48, 32] },
  { name: 'uxnet_96', spec: 'examples/baselines/uxnet.mnx', set: ['out_chans=14'], inputSize: [96, 96, 96] },
  { name: 'transbts_96', spec: 'examples/baselines/transbts.mnx', inputSize: [96, 96, 96] },
  { name: 'nnformer_synapse', spec: 'examples/baselines/nnformer.mnx', set: ['crop_size=[64, 128, 128]', 'deep_supervision=true'], inputSize: [64, 128, 128] },
  { name: 'transunet_r50_vit_b16_224', spec: 'examples/baselines/transunet.mnx', inputSize: [224, 224] },
  { name: 'transunet_tiny', spec: 'examples/baselines/transunet.mnx', set: TRANSUNET_TINY, inputSize: [64, 64] },
  { name: 'swin_unetr_48', spec: 'examples/baselines/swin_unetr.mnx', set: ['feature_size=48'], inputSize: [96, 96, 96] },
];
