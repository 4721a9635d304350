/**
 * Batches made ahead of the training step: loading and augmentation run in worker threads
 * (`node:worker_threads`; each worker registers tsx itself, see loader-worker-entry.mjs) while the
 * main thread trains. Batches come back in request order; since each batch depends only on its
 * (kind, epoch, index), the number of workers never changes the data.
 */
import { Worker } from 'node:worker_threads';
import { BatchMaker, type Batch, type BatchConfig, type BatchRequest } from './batch.js';

interface Pending {
  resolve: (b: Batch) => void;
  reject: (e: Error) => void;
}

export class BatchLoader {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly local: BatchMaker | null;
  private nextId = 0;
  private turn = 0;
  private closed = false;

  /** `workers` = 0 builds batches in this thread (no prefetching across the training step). */
  constructor(config: BatchConfig, workers: number) {
    this.local = workers === 0 ? new BatchMaker(config) : null;
    for (let i = 0; i < workers; i++) {
      const w = new Worker(new URL('./loader-worker-entry.mjs', import.meta.url), { workerData: config });
      w.on('message', (msg: { id: number; batch?: Batch; error?: string }) => {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.batch) p.resolve(msg.batch);
        else p.reject(new Error(msg.error ?? 'batch worker failed'));
      });
      w.on('error', (e) => this.failAll(e));
      w.on('exit', (code) => {
        if (!this.closed && code !== 0) this.failAll(new Error(`a batch worker exited with code ${code}`));
      });
      this.workers.push(w);
    }
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Starts building one batch; resolves when it is ready. */
  request(req: BatchRequest): Promise<Batch> {
    if (this.local) {
      try {
        return Promise.resolve(this.local.make(req));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    const id = this.nextId++;
    const w = this.workers[this.turn++ % this.workers.length]!;
    return new Promise<Batch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, req });
    });
  }

  /**
   * Yields the batches of `requests` in order, keeping up to `ahead` of them in flight.
   * Unconsumed requests are abandoned when the consumer stops.
   */
  async *stream(requests: BatchRequest[], ahead: number): AsyncGenerator<Batch> {
    const inFlight: Promise<Batch>[] = [];
    let next = 0;
    // requests abandoned when the consumer stops early must not raise unhandled rejections
    const quiet = (p: Promise<Batch>) => (p.catch(() => undefined), p);
    const fill = () => {
      while (next < requests.length && inFlight.length < Math.max(1, ahead)) inFlight.push(quiet(this.request(requests[next++]!)));
    };
    // unobserved rejections of abandoned requests must not crash the process
    fill();
    while (inFlight.length > 0) {
      const b = await inFlight.shift()!;
      fill();
      yield b;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
