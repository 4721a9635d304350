/** Worker thread body: builds the batches it is asked for (loading + augmentation). */
import { parentPort, workerData } from 'node:worker_threads';
import { BatchMaker, type BatchConfig, type BatchRequest } from './batch.js';

const maker = new BatchMaker(workerData as BatchConfig);

parentPort!.on('message', (msg: { id: number; req: BatchRequest } | null) => {
  if (msg === null) {
    parentPort!.close();
    return;
  }
  try {
    const batch = maker.make(msg.req);
    parentPort!.postMessage({ id: msg.id, batch }, [batch.input.buffer as ArrayBuffer, ...batch.targets.map((t) => t.buffer as ArrayBuffer)]);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message });
  }
});
