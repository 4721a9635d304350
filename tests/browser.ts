/**
 * Tests in a real browser: Debian's Chromium (apt-get install chromium), driven headless by
 * puppeteer-core, with software WebGL and WebGPU through SwiftShader, and pages served from a
 * folder by a small static HTTP server on a free loopback port (127.0.0.1 is a secure context,
 * which WebGPU needs; file:// pages cannot fetch their wasm files).
 *
 * Without Chromium the browser tests skip and say so, except where MNXC_REQUIRE_BROWSER=1
 * (CI): there a missing browser is a failure (`describe.skipIf(SKIP_BROWSER)`, then
 * `launchBrowser` fails through `requireChromium`).
 *
 *   const server = await serveFolder(dir);
 *   const browser = await launchBrowser();
 *   const page = await openPage(browser, `${server.url}/index.html`);
 *   const y = await page.page.evaluate(() => …);
 *   expect(page.errors).toEqual([]);
 *   await browser.close(); await server.close();
 */
import { existsSync, statSync, createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** Where Debian (and Ubuntu) put Chromium; undefined when neither is installed. */
export const CHROMIUM: string | undefined = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** MNXC_REQUIRE_BROWSER=1 (CI): a missing browser fails the browser tests instead of skipping them. */
export const BROWSER_REQUIRED = process.env.MNXC_REQUIRE_BROWSER === '1';

/** Whether browser tests skip here (no Chromium, and not required). Prints why once, loudly. */
export const SKIP_BROWSER = !CHROMIUM && !BROWSER_REQUIRED;
if (SKIP_BROWSER) console.warn('SKIPPED: browser tests: no Chromium at /usr/bin/chromium (apt-get install chromium; MNXC_REQUIRE_BROWSER=1 makes this a failure)');

/** The Chromium executable, or a clear failure (call it inside a test that did not skip). */
export function requireChromium(): string {
  if (!CHROMIUM) throw new Error('MNXC_REQUIRE_BROWSER=1 but no Chromium at /usr/bin/chromium (apt-get install chromium)');
  return CHROMIUM;
}

/**
 * Chromium's flags for GPU APIs without a GPU: WebGL2 through ANGLE on SwiftShader's Vulkan,
 * WebGPU (Dawn) on the SwiftShader adapter (`--enable-unsafe-webgpu`: Linux builds ship WebGPU
 * behind it). Checked with Chromium 156 (Debian 12): webgl2 with EXT_color_buffer_float and a
 * WebGPU adapter (vendor google, architecture swiftshader).
 */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--hide-scrollbars',
  '--mute-audio',
  '--no-first-run',
  '--no-default-browser-check',
];

export interface LaunchOptions {
  /** More command-line flags. */
  args?: string[];
  /** Longest a single page.evaluate may take, in ms (default 10 minutes: a forward on SwiftShader is slow). */
  protocolTimeout?: number;
  /** Window size (default 1280×900). */
  width?: number;
  height?: number;
}

/** Starts headless Chromium (requireChromium's executable) with `CHROMIUM_FLAGS`. Close it with `browser.close()`. */
export async function launchBrowser(options: LaunchOptions = {}): Promise<Browser> {
  const width = options.width ?? 1280;
  const height = options.height ?? 900;
  return puppeteer.launch({
    executablePath: requireChromium(),
    headless: true,
    args: [...CHROMIUM_FLAGS, `--window-size=${width},${height}`, ...(options.args ?? [])],
    defaultViewport: { width, height },
    protocolTimeout: options.protocolTimeout ?? 600_000,
  });
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.yaml': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  port: number;
  /** Paths requested so far (for tests that check what a page loaded). */
  requests: string[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /**
   * Send COOP/COEP headers so the page is cross-origin isolated (SharedArrayBuffer: the
   * multi-threaded wasm backend). Default false, as a plain static server would serve.
   */
  crossOriginIsolated?: boolean;
}

/**
 * Serves `root` read-only on a free loopback port: GET and HEAD of files under it (a folder
 * serves its index.html), the content type from the extension (application/octet-stream for
 * others, e.g. .nii.gz, .safetensors), 404 for anything else, nothing outside `root`.
 */
export async function serveFolder(root: string, options: ServeOptions = {}): Promise<StaticServer> {
  const base = resolve(root);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405).end();
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
      'cache-control': 'no-store',
    };
    if (options.crossOriginIsolated) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    res.writeHead(200, headers);
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

export interface OpenedPage {
  page: Page;
  /** Console errors, uncaught page errors, failed requests and HTTP errors, in order. */
  errors: string[];
  /** Every console message as `type: text`, in order. */
  console: string[];
  close(): Promise<void>;
}

/**
 * Opens `url` in a new tab and waits until the network is idle; collects console output and
 * errors from the start (so errors while loading are caught too).
 */
export async function openPage(browser: Browser, url: string, options: { timeout?: number } = {}): Promise<OpenedPage> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const messages: string[] = [];
  // The browser asks for /favicon.ico on its own; a page without one is not an error.
  const favicon = (u: string | undefined) => !!u && new URL(u).pathname === '/favicon.ico';
  page.on('console', (m) => {
    messages.push(`${m.type()}: ${m.text()}`);
    if (m.type() === 'error' && !favicon(m.location().url)) errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? '?'})`));
  page.on('response', (r) => {
    if (r.status() >= 400 && !favicon(r.url())) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  page.setDefaultTimeout(options.timeout ?? 600_000);
  await page.goto(url, { waitUntil: 'networkidle0', timeout: options.timeout ?? 120_000 });
  return { page, errors, console: messages, close: () => page.close() };
}

export interface BrowserGpu {
  /** WebGL2 context available, and its (unmasked) renderer. */
  webgl: boolean;
  webglRenderer: string | null;
  /** EXT_color_buffer_float: float32 render targets (TF.js WebGL renders float32 textures). */
  webglFloat: boolean;
  /** navigator.gpu exists and an adapter was granted, and what it says of itself. */
  webgpu: boolean;
  webgpuAdapter: string | null;
}

/** What the open page's browser offers for GPU compute (needs a secure context: serve from 127.0.0.1). */
export async function browserGpu(page: Page): Promise<BrowserGpu> {
  // Runs in the page; the repository compiles without the DOM's types, hence the casts.
  return page.evaluate(async () => {
    interface GL {
      getExtension(name: string): { UNMASKED_RENDERER_WEBGL?: number } | null;
      getParameter(p: number): unknown;
      RENDERER: number;
    }
    interface Gpu {
      requestAdapter(): Promise<{ info?: { vendor: string; architecture: string } } | null>;
    }
    const g = globalThis as unknown as { document: { createElement(t: 'canvas'): { getContext(k: 'webgl2'): GL | null } }; navigator: { gpu?: Gpu } };
    const gl = g.document.createElement('canvas').getContext('webgl2');
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    const out = {
      webgl: !!gl,
      webglRenderer: gl ? String(gl.getParameter(info?.UNMASKED_RENDERER_WEBGL ?? gl.RENDERER)) : null,
      webglFloat: !!gl?.getExtension('EXT_color_buffer_float'),
      webgpu: false,
      webgpuAdapter: null as string | null,
    };
    const gpu = g.navigator.gpu;
    if (gpu) {
      try {
        const adapter = await gpu.requestAdapter();
        if (adapter) {
          out.webgpu = true;
          out.webgpuAdapter = adapter.info ? `${adapter.info.vendor} ${adapter.info.architecture}`.trim() : 'adapter';
        }
      } catch {
        // no adapter
      }
    }
    return out;
  });
}
