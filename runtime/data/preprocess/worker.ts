/** Worker thread body: preprocesses the cases it is sent, one message per case. */
import { parentPort } from 'node:worker_threads';
import { processOne, type CaseJob, type CaseResult } from './run.js';

parentPort!.on('message', (job: CaseJob | null) => {
  if (job === null) {
    parentPort!.close();
    return;
  }
  let result: CaseResult;
  try {
    result = processOne(job);
  } catch (e) {
    result = { id: job.source.id, ok: false, error: (e as Error).message, seconds: 0, peakRssMiB: process.memoryUsage().rss / 2 ** 20 };
  }
  parentPort!.postMessage(result);
});
