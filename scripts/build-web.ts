/**
 * `npm run build:web [-- OUT_DIR]`: the browser bundle (app/web/bundle.ts) into dist/web/ (or OUT_DIR).
 */
import { join } from 'node:path';
import { buildWebBundle } from '../app/web/bundle.js';
import { packageRoot } from '../runtime/io/package-root.js';

const outDir = process.argv[2] ?? join(packageRoot(import.meta.url), 'dist', 'web');
try {
  const b = await buildWebBundle({ outDir });
  console.log(`wrote ${b.files.length} files (${(b.bytes / 1e6).toFixed(1)} MB) to ${b.outDir}`);
} catch (e) {
  console.error(`build:web: error: ${(e as Error).message}`);
  process.exit(1);
}
