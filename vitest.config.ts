import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `mnxc` and `mnxc/runtime` (as generated models import them) resolve to the sources here.
  resolve: { conditions: ['mnxc-source'] },
  ssr: { resolve: { conditions: ['mnxc-source'] } },
  test: {
    include: ['**/*.test.ts'],
    // *.long.test.ts: the long checks, `npm run test:long` (vitest.long.config.ts).
    exclude: ['node_modules/**', '.mnxc/**', 'dist/**', '**/*.long.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
