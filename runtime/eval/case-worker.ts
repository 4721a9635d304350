import { parentPort } from 'node:worker_threads';
import { MnxError } from '../errors.js';
import { evaluateCase, type CaseJob } from './evaluate-case.js';

/** Worker side of `--workers N`: evaluates one case per message and answers with its result. */
export type WorkerReply =
  | { ok: true; result: ReturnType<typeof evaluateCase> }
  | { ok: false; message: string; user: boolean };

parentPort!.on('message', (job: CaseJob) => {
  let reply: WorkerReply;
  try {
    reply = { ok: true, result: evaluateCase(job) };
  } catch (e) {
    reply = { ok: false, message: e instanceof Error ? (e instanceof MnxError ? e.message : e.stack ?? e.message) : String(e), user: e instanceof MnxError };
  }
  parentPort!.postMessage(reply);
});
