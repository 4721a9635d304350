import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SetupError } from './setup-error.js';

/** What building tfjs-node's addon takes: npm, node-gyp (shipped inside npm), Node headers, python, make, a C++ compiler. */
export interface Toolchain {
  /** npm's own CLI script, run with this node. */
  npmCli: string;
  nodeGyp: string;
  /** `--nodedir` for node-gyp, or null where its header cache already has this Node version. */
  nodeDir: string | null;
}

/** npm's install folder: from the npm that started us, or next to this node binary. */
function npmFolders(): string[] {
  const folders: string[] = [];
  const execPath = process.env.npm_execpath;
  if (execPath && /npm-cli\.js$/.test(execPath)) folders.push(dirname(dirname(execPath)));
  const prefix = dirname(dirname(process.execPath));
  folders.push(join(prefix, 'lib', 'node_modules', 'npm'), join(prefix, 'node_modules', 'npm'));
  return folders;
}

function works(command: string, args: string[]): boolean {
  const run = spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  return !run.error && run.status === 0;
}

/** Where node-gyp finds `include/node/node_api.h`, without downloading headers. */
function findNodeDir(): string | null | undefined {
  const configured = process.env.npm_config_nodedir;
  if (configured && existsSync(join(configured, 'include', 'node', 'node_api.h'))) return configured;
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  const version = process.versions.node;
  const caches = [join(homedir(), '.cache', 'node-gyp', version), join(homedir(), '.node-gyp', version)];
  if (caches.some((c) => existsSync(join(c, 'include', 'node', 'node_api.h')))) return null;
  return undefined;
}

/** Finds every tool or throws one message listing all that are missing and how to get them. */
export function findToolchain(python: string): Toolchain {
  const missing: string[] = [];
  const npmFolder = npmFolders().find((f) => existsSync(join(f, 'bin', 'npm-cli.js')));
  const nodeGyp = npmFolder && join(npmFolder, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!npmFolder) missing.push('npm (it comes with Node.js)');
  else if (!existsSync(nodeGyp!)) missing.push(`node-gyp (expected inside npm at ${join(npmFolder, 'node_modules', 'node-gyp')})`);
  const nodeDir = findNodeDir();
  if (nodeDir === undefined) {
    missing.push(
      `the Node.js ${process.versions.node} headers (include/node/node_api.h next to the node binary; ` +
        'Debian/Ubuntu: install Node.js from NodeSource or `apt-get install libnode-dev`, or set npm_config_nodedir)',
    );
  }
  if (!works(python, ['--version'])) missing.push(`${python} (node-gyp runs Python 3; set PYTHON or pass --python)`);
  const cxx = process.env.CXX ?? 'g++';
  if (!works(cxx, ['--version'])) missing.push(`a C++ compiler (${cxx}; Debian/Ubuntu: apt-get install build-essential)`);
  if (!works('make', ['--version'])) missing.push('make (Debian/Ubuntu: apt-get install build-essential)');
  if (missing.length > 0) throw new SetupError(`cannot build the tfjs-node addon, missing: ${missing.join('; ')}`);
  return { npmCli: join(npmFolder!, 'bin', 'npm-cli.js'), nodeGyp: nodeGyp!, nodeDir: nodeDir ?? null };
}
