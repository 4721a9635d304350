/**
 * The runtime's error types, one per kind of thing that can be wrong. Each message is meant for
 * the user: it names the file (or field) and the problem. The runtime never decides how an error
 * is shown; the CLI (cli/errors.ts, `exitCodeFor`) prints any `MnxError` as `error: MESSAGE`
 * and exits 1, without a stack trace. Anything that is not an `MnxError` is a bug.
 */

/** Base of every error the runtime raises on purpose (bad input, bad state, missing setup). */
export class MnxError extends Error {}

/** A NIfTI file that cannot be read or written; the message is `FILE: PROBLEM`. */
export class NiftiError extends MnxError {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'NiftiError';
  }
}

/** A dataset folder (dataset.json, imagesTr/, labelsTr/) that breaks the nnU-Net conventions. */
export class DatasetError extends MnxError {}

/** A plans file (plans.yaml), its splits or fingerprint that cannot be read or is inconsistent. */
export class PlansError extends MnxError {}

/** A preprocessed-data folder (written by `mnxc preprocess`) that is missing, stale or broken. */
export class PreprocessedError extends MnxError {}

/** Weights (a state_dict as a tensor map) that do not fit the network: `problems` lists each. */
export class WeightsError extends MnxError {
  constructor(readonly problems: string[], what: string) {
    super(`${what}: ${problems.length} problem${problems.length === 1 ? '' : 's'} with the weights:\n  ${problems.join('\n  ')}`);
  }
}

/** A training checkpoint (a unit of weights, optimiser state and manifest) that is not whole or cannot be read. */
export class CheckpointUnitError extends MnxError {}

/** A fold that another live process is training, or a run folder whose other folds were trained differently. */
export class FoldLockError extends MnxError {}

/** A file or folder that cannot be written (permissions, read-only file system, not a folder). */
export class OutputError extends MnxError {}

/** A safetensors file that cannot be read or written. */
export class SafetensorsError extends MnxError {}

/** Any reason a PyTorch checkpoint cannot be read; the message names the file and the problem. */
export class CheckpointError extends MnxError {}

/** A pickle stream inside a PyTorch checkpoint that holds something other than plain data. */
export class PickleError extends CheckpointError {}

/** A zip archive (a PyTorch checkpoint, a Python wheel) that cannot be read. */
export class ZipError extends MnxError {}

/** UpKern weights that cannot be built from the given map and source weights. */
export class UpkernError extends MnxError {}

/** A run folder (written by `mnxc train`) or one of its checkpoints that is missing or inconsistent. */
export class RunFolderError extends MnxError {}

/** Input images for prediction that do not fit the model (channels, names, files), or cases that failed. */
export class PredictError extends MnxError {}

/** Predictions, references or class definitions that `mnxc evaluate` cannot use. */
export class EvaluationError extends MnxError {}

/** Example data that cannot be made where asked. */
export class ExampleDataError extends MnxError {}

/** The demo cannot run as asked (output folder, generated data, spec). */
export class DemoError extends MnxError {}

/** Training stopped because the loss became NaN or infinite. */
export class NonFiniteLossError extends MnxError {}

/** A training run that cannot be continued (`--continue`) as asked. */
export class ResumeError extends MnxError {}

/** A TF.js backend that was asked for and cannot be used here; the message says why. */
export class BackendError extends MnxError {}

/** Something setup needs is missing or wrong; the message says what and how to get it. */
export class SetupError extends MnxError {}
