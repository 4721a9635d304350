import { describe } from 'vitest';
import { CASES, LONG, parityTest } from './baselines-parity.js';

describe('mnxc forward matches the official baselines (the long runs)', () => {
  for (const l of LONG) parityTest(CASES.find((c) => c.case === l.case)!, l.backend);
});
