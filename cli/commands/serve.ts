import { serveFolder } from '../../app/web/serve.js';
import { intArg, parseCommandArgs, type Command } from '../command.js';
import { UsageError } from '../errors.js';

const HELP = `Usage: mnxc serve SITE_DIR [--port 8080] [--host 127.0.0.1]

Serves a folder (a site mnxc export-web wrote) over HTTP until stopped (Ctrl-C, SIGTERM), with the
MIME types a page needs (application/wasm included). Open the printed address in a browser.

  --port N      port to listen on (default 8080; 0: any free port)
  --host ADDR   address to listen on (default 127.0.0.1, this machine only: a loopback address is
                a secure context, which WebGPU needs; 0.0.0.0 serves the network too)`;

export const command: Command = {
  name: 'serve',
  summary: 'serve a folder (an exported site) over HTTP',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' } });
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing SITE_DIR' : `unexpected argument '${positionals[1]}'`);
    const port = intArg(values.port, '--port', 0)!;
    if (port > 65535) throw new UsageError(`--port expects a port up to 65535, got ${port}`);
    const s = await serveFolder(positionals[0]!, { port, host: values.host });
    process.stdout.write(`serving ${positionals[0]} at ${s.url}/ (Ctrl-C stops)\n`);
    await new Promise<void>((done) => {
      const stop = () => void s.close().then(done);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};
