/**
 * A real Redis for tests: Debian's redis-server started on a free loopback port in a temporary
 * folder (no persistence), answered with PING before it is handed out, killed by stop(). Missing
 * redis-server is a failure with the command that installs it, never a skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface TestRedis {
  url: string;
  stop: () => void;
}

export async function startRedis(): Promise<TestRedis> {
  const v = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0)
    throw new Error("redis-server is not installed: the queue tests need a real Redis. Install it (Debian/Ubuntu: 'apt-get install -y redis-server'; .ci/run does this)");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mnxc-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const stop = () => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `redis://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { url, stop };
    } catch (e) {
      probe.disconnect();
      if (tries > 100 || proc.exitCode !== null) {
        stop();
        throw new Error(`redis-server did not start on port ${port}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
