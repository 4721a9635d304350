import { existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The shared reference fixtures (official PyTorch outputs, nibabel files, metric values) live
 * beside the checkout in `../shared/fixtures`; MNXC_FIXTURES overrides the location.
 */
export const FIXTURES = process.env.MNXC_FIXTURES ?? resolve(ROOT, '..', 'shared', 'fixtures');

export const haveFixtures = existsSync(FIXTURES);
