/**
 * Preprocessing. Public API:
 *
 *   preprocessDataset({sources, plans, outDir, workers}) → {done, failed, skipped}   worker threads
 *   loadCase(source) / preprocessLoadedCase(case, plans, source) → {data, seg, properties}
 *   undoPreprocessing({probabilities, classes} | {labels}, properties) → labels on the original grid
 *   toOriginalImage(undone, properties) → a NiftiImage to write with writeNifti
 *   readCase / readCaseHeader / readPatch / listPreprocessedCases      the on-disk case store
 */
export * from './store.js';
export { loadCase, type CaseSource } from './load-case.js';
export { assembleCase, type CaseImages, type LoadedCase, type NamedImage } from './case.js';
export { cropCase, preprocessLoadedCase, sampleClassLocations, undoPreprocessing, type UndoneCase, type PreprocessedCase } from './pipeline.js';
export { preprocessDataset, type RunOptions, type RunSummary, type CaseResult } from './run.js';
export { normalizeChannel, type ChannelNormalization, type NormalizationScheme } from './normalize.js';
export { toOriginalImage } from './original.js';
export type { Box3 } from './crop.js';
