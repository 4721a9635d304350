import type { Command } from '../command.js';

export interface CommandEntry {
  name: string;
  summary: string;
  /** Loaded lazily so `mnxc check` never pays for loading TF.js. */
  load: () => Promise<{ command: Command }>;
}

/** Every sub-command, in the order `mnxc --help` lists them; one line per command. */
export const commandEntries: CommandEntry[] = [
  // compiler
  { name: 'check', summary: 'check a spec and print its diagnostics', load: () => import('./check.js') },
  { name: 'compile', summary: 'compile a spec to IR, generated TypeScript and a summary', load: () => import('./compile.js') },
  { name: 'summary', summary: 'parameters, FLOPs and activation memory per stage', load: () => import('./summary.js') },
  { name: 'compare', summary: 'parameters, FLOPs and activation memory of several networks side by side', load: () => import('./compare.js') },
  { name: 'graph', summary: 'draw the network (dot, svg or html)', load: () => import('./graph.js') },
  { name: 'import-plans', summary: 'turn an nnU-Net v2 plans file into an .mnx spec', load: () => import('./import-plans.js') },
  { name: 'forward', summary: 'run the network on an input tensor', load: () => import('./forward.js') },
  // data
  { name: 'info', summary: 'show a NIfTI image: shape, type, voxel size, affine, orientation', load: () => import('./info.js') },
  { name: 'dataset', summary: 'check an nnU-Net dataset folder, or convert an MSD dataset to the v2 layout', load: () => import('./dataset.js') },
  { name: 'example-data', summary: 'write a synthetic CT-like dataset (nnU-Net v2 layout) to try the pipeline on', load: () => import('./example-data.js') },
  { name: 'demo', summary: 'the whole pipeline on a synthetic CT phantom in one command, with an HTML report', load: () => import('./demo.js') },
  { name: 'plan', summary: 'fingerprint a dataset and write its plans (YAML)', load: () => import('./plan.js') },
  { name: 'preprocess', summary: 'crop, resample and normalise a dataset for training (worker threads)', load: () => import('./preprocess.js') },
  { name: 'predict', summary: 'segment images with a trained run (sliding window, mirroring, fold ensemble)', load: () => import('./predict.js') },
  { name: 'evaluate', summary: 'Dice, surface Dice, HD95 and ASD of predicted label maps against references', load: () => import('./evaluate.js') },
  { name: 'train', summary: 'train a network on a preprocessed dataset (nnU-Net / MedNeXt training pipeline)', load: () => import('./train.js') },
  { name: 'find-best-configuration', summary: 'choose among runs and their ensembles by cross-validation Dice (nnU-Net)', load: () => import('./find-best-configuration.js') },
  { name: 'export-web', summary: 'write a static web site that segments NIfTI files in the browser with a trained run', load: () => import('./export-web.js') },
  { name: 'serve', summary: 'serve a folder (an exported site) over HTTP', load: () => import('./serve.js') },
  { name: 'ensemble', summary: 'average the saved probabilities of several predictions (nnU-Net ensemble)', load: () => import('./ensemble.js') },
  // many machines
  { name: 'queue', summary: 'put preprocessing, training and prediction jobs on Redis for mnxc worker processes; watch them', load: () => import('./queue.js') },
  { name: 'worker', summary: 'take jobs from Redis (mnxc queue submit) until stopped', load: () => import('./worker.js') },
  // runtime
  { name: 'upkern', summary: 'Initialise a larger-kernel network from trained smaller-kernel weights (UpKern)', load: () => import('./upkern.js') },
  { name: 'import-torch', summary: 'Convert a PyTorch checkpoint (.pth, .model) to safetensors without executing it', load: () => import('./import-torch.js') },
  { name: 'setup', summary: 'Build the tensorflow backend from a TensorFlow pip package', load: () => import('./setup.js') },
  { name: 'doctor', summary: 'Show which backends work here and why the others do not', load: () => import('./doctor.js') },
];
