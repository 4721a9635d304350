/**
 * Planning. Public API:
 *
 *   loadPlans(path): Plans             read + validate (ajv) + fill defaults; PlansError naming file:line: field
 *   savePlans(path, plans)             validate, write YAML atomically
 *   parsePlans(text, file) / stringifyPlans(plans)
 *   defaultPlans({dataset, target_spacing, normalization, median_shape, ...}): Plans
 *   plansSchema                        the JSON Schema
 *   computeFingerprint(input) / planFromFingerprint(fp, opts)
 *   makeSplits(ids) / ensureSplits(dir, ids) / readSplits(path)   nnU-Net's 5 folds (KFold, seed 12345)
 *   MT19937                            numpy's legacy RandomState stream (seeded shuffles)
 */
export * from './plans.js';
export * from './fingerprint.js';
export * from './planner.js';
export * from './splits.js';
export * from './batch-size.js';
export { MT19937 } from './mt19937.js';
