import { existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The reference fixtures (official PyTorch outputs, nibabel files, metric values, real and hostile
 * checkpoints) are part of the repository: `tests/fixtures/<kind>/`, each folder with its README
 * (provenance, layouts, tolerance). A test that needs them fails when they are missing; it never skips.
 */
export const FIXTURES = resolve(ROOT, 'tests', 'fixtures');

if (!existsSync(resolve(FIXTURES, 'mednext-reference', 'index.json'))) {
  throw new Error(`the reference fixtures are missing from ${FIXTURES}: the checkout is incomplete`);
}
