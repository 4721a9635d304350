/**
 * nnU-Net raw datasets. Public API:
 *
 *   loadDataset(dir): Dataset        cases {id, images: string[] (per channel), label}, dataset.json
 *   scanDataset(dir)                 the same plus structural problems, without throwing on them
 *   checkDataset(dir): DatasetReport every problem, per file (reads every voxel)
 *   convertMsd(src, dst)             MSD / v1 → v2 layout
 *   writeTestDataset / writeTestCase / syntheticCase   small real datasets for tests
 */
export {
  loadDataset, scanDataset, readDatasetJson, declaredLabelValues, ignoreLabelOf, regionsOf, msdToV2, DatasetError,
  type Dataset, type DatasetCase, type DatasetJson, type DatasetProblem,
} from './load.js';
export { checkDataset, GEOMETRY_TOLERANCE, type DatasetReport } from './check.js';
export { convertMsd, type ConvertResult } from './convert-msd.js';
export { writeTestCase, writeTestDataset, syntheticCase, type TestCaseSpec, type TestDatasetSpec } from './testing.js';
