import { relative } from 'node:path';
import { exportWeb } from '../../app/web/export-web.js';
import type { CheckpointName } from '../../app/run-folder.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';

const HELP = `Usage: mnxc export-web RUN_DIR -o SITE_DIR [--folds 0,1,...|all] [--checkpoint final|best|latest]

Writes a static web site that segments NIfTI images in the browser with a trained run (written by
mnxc train): drop a .nii or .nii.gz file on the page, it is preprocessed as the run's plans say,
segmented by the network on the browser's GPU (WebGPU, else WebGL) or CPU (wasm), shown in NiiVue
with the dataset's labels, and can be downloaded as NIfTI on the input's grid — what mnxc predict
writes. Nothing is uploaded: open the site from any static file server (mnxc serve SITE_DIR).

  -o, --output DIR     the site folder. An existing one is replaced as a whole when it is an
                       earlier export (it has site.json) or empty; anything else is refused
  --folds LIST         folds to ensemble, e.g. 0,1,2,3,4 or all (default: every fold_K present)
  --checkpoint NAME    final (default), best or latest

The site holds index.html, site.json (its manifest), model.ir.json, plans.json, one weights file per
fold (fetched by the page with a progress bar), the page's bundle (TF.js, NiiVue) and TF.js's wasm
binaries.`;

export const command: Command = {
  name: 'export-web',
  summary: 'write a static web site that segments NIfTI files in the browser with a trained run',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      output: { type: 'string', short: 'o' },
      folds: { type: 'string' },
      checkpoint: { type: 'string', default: 'final' },
    });
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing RUN_DIR (a run folder written by mnxc train)' : `unexpected argument '${positionals[1]}'`);
    if (!values.output) throw new UsageError('missing -o SITE_DIR');
    if (!['final', 'best', 'latest'].includes(values.checkpoint!)) throw new UsageError(`--checkpoint must be final, best or latest, got '${values.checkpoint}'`);
    const site = await exportWeb({ runDir: positionals[0]!, siteDir: values.output, folds: values.folds, checkpoint: values.checkpoint as CheckpointName });
    const weights = site.files.filter((f) => f.file.startsWith('weights/')).reduce((a, f) => a + f.bytes, 0);
    process.stderr.write(
      `${site.replaced ? 'replaced' : 'wrote'} ${relative(process.cwd(), site.siteDir) || '.'}: ${site.files.length} files, ${(site.bytes / 1e6).toFixed(1)} MB ` +
        `(weights ${(weights / 1e6).toFixed(1)} MB, fold(s) ${site.folds.join(',')}); serve it with: mnxc serve ${relative(process.cwd(), site.siteDir) || '.'}\n`,
    );
    return 0;
  },
};
