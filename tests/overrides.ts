import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './fixtures.js';

/** `--set` arguments reproducing a MedNeXt fixture's official constructor call. */
export function fixtureOverrides(caseName: string): string[] {
  const meta = JSON.parse(readFileSync(join(FIXTURES, 'mednext-reference', `${caseName}.json`), 'utf8'));
  return Object.entries(meta.constructor_args as Record<string, unknown>).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

const NNUNET_ARGS = ['input_channels', 'n_stages', 'features_per_stage', 'kernel_sizes', 'strides', 'n_conv_per_stage', 'num_classes', 'n_conv_per_stage_decoder', 'conv_bias', 'deep_supervision'];

/** `--set` lines reproducing a PlainConvUNet constructor call (class-valued arguments are the defaults the spec encodes). */
export function nnunetOverrides(args: Record<string, unknown>): string[] {
  return NNUNET_ARGS.filter((k) => k in args).map((k) => `${k}=${JSON.stringify(args[k])}`);
}

const RESENC_ARGS = ['input_channels', 'n_stages', 'features_per_stage', 'kernel_sizes', 'strides', 'n_blocks_per_stage', 'num_classes', 'n_conv_per_stage_decoder', 'conv_bias', 'deep_supervision'];

/** `--set` lines reproducing a ResidualEncoderUNet constructor call (class-valued arguments are the defaults the spec encodes). */
export function resencOverrides(args: Record<string, unknown>): string[] {
  return RESENC_ARGS.filter((k) => k in args).map((k) => `${k}=${JSON.stringify(args[k])}`);
}

/** `--set` lines reproducing a baseline fixture's constructor call (tests/fixtures/baselines-reference). */
export function baselineOverrides(args: Record<string, unknown>): string[] {
  return Object.entries(args).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

/** TransUNet's nested config as `--set` lines: leaf names joined by '_' without the 'config' prefix. */
export function transunetOverrides(args: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (v: unknown, path: string[]) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    else out.push(`${path.filter((p, i) => !(i === 0 && p === 'config')).join('_')}=${v === null ? 'none' : JSON.stringify(v)}`);
  };
  walk(args, []);
  return out;
}
