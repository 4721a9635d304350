/** Plans with every default filled in, for unit tests (validated by the real schema). */
import { parsePlans, type Plans } from '../data/plan/plans.js';

export function defaultPlansForTests(): Plans {
  return parsePlans(
    [
      'version: 1',
      'dataset: { name: t, channels: [MR], labels: { "0": background, "1": fg }, num_training: 4 }',
      'preprocessing:',
      '  target_spacing: [1, 1, 1]',
      '  normalization: [{ channel: 0, name: MR, scheme: zscore }]',
      '  median_shape: [24, 24, 24]',
      '',
    ].join('\n'),
    'test-plans.yaml',
  );
}
