import { describe } from 'vitest';
import { BACKENDS, CASES, isLong, parityTest } from './baselines-parity.js';

describe('mnxc forward matches the official baselines', () => {
  for (const c of CASES) for (const backend of BACKENDS) if (!isLong(c.case, backend)) parityTest(c, backend);
});
