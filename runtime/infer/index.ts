/**
 * Inference (`mnxc predict`). Public API:
 *
 *   findInputCases(input, channels)                      folder of {case}_{XXXX}.nii.gz, or one file
 *   predictCases(options) → CaseResult[]                 the whole pipeline, one case at a time
 *   gaussianImportanceMap(patch, sigmaScale) / windowStarts / windowGrid   nnU-Net's window rules
 *   padToPatch / extractPatch / ProbabilityAccumulator / accumulateWindows / predictSlidingWindow
 *   mirrorCombinations / predictMirrored / modelWindowPredictor         test-time mirroring
 *   exportProbabilities / writeLabelMap / writeProbabilities            back onto the input grid
 *   connectedComponents / keepLargestComponentPerClass                  --postprocess lcc
 */
export { findInputCases, checkOutputCollisions, caseOutputs, type InputCase } from './inputs.js';
export { CasePredictor, checkPatch, parsePostprocessing, type CasePredictorSetup, type CasePrediction } from './predict-case.js';
export { predictCases, ModelCache, sizeDivisor, readPostprocessing, POSTPROCESSING_FILE, type PredictOptions, type PredictRun, type CheckpointName, type CaseResult } from './predict.js';
export { gaussianImportanceMap, gaussianProfile } from './gaussian.js';
export { windowStarts, windowGrid } from './steps.js';
export { padToPatch, extractPatch, ProbabilityAccumulator, accumulateWindows, predictSlidingWindow, type WindowPredictor, type Volume } from './sliding-window.js';
export { mirrorCombinations, predictMirrored, modelWindowPredictor } from './tta.js';
export { exportProbabilities, writeLabelMap, writeProbabilities, type ExportedCase } from './export.js';
export { connectedComponents, keepLargestComponentPerClass } from './lcc.js';
export { PredictProgress } from './progress.js';
