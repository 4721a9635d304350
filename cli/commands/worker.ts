import { startWorker } from '../../app/queue/queue.js';
import { useBackendForTraining } from '../../app/train.js';
import { BACKEND_CHOICES, useBackend, type BackendChoice } from '../../runtime/backend.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';

const HELP = `Usage: mnxc worker --redis URL [--concurrency N] [--backend B] [--lock-duration MS] [--no-model-cache]

Takes jobs put on Redis by 'mnxc queue submit' (preprocess, train, predict, evaluate) and runs them with the
same library calls as the single-machine commands, until stopped. SIGTERM or Ctrl-C: the running job
finishes (a training job saves checkpoint_latest and hands its fold back to the queue), then the
worker exits; a second signal quits at once. A worker that dies (SIGKILL, machine gone) loses its
jobs' locks; another worker takes them up after the lock expires and writes the same files.

  --redis URL          the Redis server, e.g. redis://127.0.0.1:6379 (required)
  --concurrency N      jobs at once in this process (default 1)
  --backend B          auto (default), tensorflow, native, wasm or cpu (wasm cannot train)
  --lock-duration MS   a job's lock without renewal before another worker may take it (default 30000)
  --no-model-cache     build the network and read the weights for every predict job (by default the
                       last network, with its weights, is kept for the next job of the same run,
                       folds and checkpoint)`;

export const command: Command = {
  name: 'worker',
  summary: 'take jobs from Redis (mnxc queue submit) until stopped',
  help: HELP,
  async run(argv) {
    const { values } = parseCommandArgs(
      argv,
      {
        redis: { type: 'string' },
        concurrency: { type: 'string', default: '1' },
        backend: { type: 'string', default: 'auto' },
        'lock-duration': { type: 'string', default: '30000' },
        'no-model-cache': { type: 'boolean', default: false },
      },
      false,
    );
    if (!values.redis) throw new UsageError('--redis URL is required (e.g. redis://127.0.0.1:6379)');
    const concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency expects a whole number ≥ 1, got '${values.concurrency}'`);
    const lock = Number(values['lock-duration']);
    if (!Number.isInteger(lock) || lock < 1000) throw new UsageError(`--lock-duration expects milliseconds ≥ 1000, got '${values['lock-duration']}'`);
    if (!BACKEND_CHOICES.includes(values.backend as BackendChoice)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
    const choice = values.backend as BackendChoice;
    const backend = choice === 'auto' ? await useBackendForTraining('auto') : await useBackend(choice);
    const log = (line: string) => process.stderr.write(`[worker ${process.pid}] ${line}\n`);
    const worker = await startWorker(values.redis, { concurrency, lockDurationMs: lock, log, modelCache: !values['no-model-cache'] });
    log(`backend ${backend}; concurrency ${concurrency}; taking jobs from ${values.redis}`);
    let signals = 0;
    const onSignal = (sig: string) => {
      if (++signals > 1) process.exit(130);
      log(`${sig}: finishing the running job(s), then exiting (again to quit at once)`);
      void worker.stop();
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    await worker.closed;
    log('stopped');
    return 0;
  },
};
