/** Any reason a PyTorch checkpoint cannot be read; the message names the file and the problem. */
export class CheckpointError extends Error {}
