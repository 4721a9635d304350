/**
 * `mnxc serve`: a static file server for a folder (an exported site), on node:http, for trying a
 * site locally. GET and HEAD only, files under the folder only (no listing, no symlinks out of
 * it), with the MIME types a page needs (application/wasm for TF.js's wasm binaries, so browsers
 * compile them streaming). It listens on 127.0.0.1 by default: a loopback origin is a secure
 * context, which WebGPU needs.
 */
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { JobError } from '../errors.js';

export const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.nii': 'application/octet-stream',
  '.gz': 'application/gzip',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  server: Server;
  /** http://HOST:PORT (no trailing slash). */
  url: string;
  close(): Promise<void>;
}

/** Serves `dir` on `host:port` (port 0: a free one). JobError when the folder is missing or the port taken. */
export async function serveFolder(dir: string, options: { port?: number; host?: string } = {}): Promise<StaticServer> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new JobError(`${dir}: no such folder to serve`);
  const root = realpathSync(resolve(dir));
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    let file = join(root, path);
    if (path.endsWith('/')) file = join(file, 'index.html');
    let real: string;
    try {
      real = realpathSync(file);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    const st = statSync(real);
    if ((real !== root && !real.startsWith(root + sep)) || !st.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(real).pipe(res);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((ok, ko) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      ko(e.code === 'EADDRINUSE' ? new JobError(`port ${options.port} on ${host} is in use; choose another with --port`) : new JobError(`cannot listen on ${host}:${options.port ?? 0} (${e.code ?? e.message})`)),
    );
    server.listen(options.port ?? 0, host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
