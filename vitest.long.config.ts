import { defineConfig } from 'vitest/config';

/**
 * The long checks (`npm run test:long`; CI runs them after `npm test`): parity runs that take
 * minutes on the pure-JS backends, in `*.long.test.ts` files, which `npm test` leaves out.
 */
export default defineConfig({
  resolve: { conditions: ['mnxc-source'] },
  ssr: { resolve: { conditions: ['mnxc-source'] } },
  test: {
    include: ['**/*.long.test.ts'],
    exclude: ['node_modules/**', '.mnxc/**', 'dist/**'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
