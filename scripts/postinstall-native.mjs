#!/usr/bin/env node
// npm's postinstall: builds the `native` backend (`mnxc setup native`: our C++ kernels, compiled
// with npm's own node-gyp into .mnxc/native/). It never fails the install: without a compiler
// (or with MNXC_SKIP_NATIVE=1) it prints one line and mnxc uses the other backends.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
try {
  if (process.env.MNXC_SKIP_NATIVE === '1') {
    console.log('mnxc: native backend not built (MNXC_SKIP_NATIVE=1); `mnxc setup native` builds it');
  } else {
    const run = spawnSync(process.execPath, [join(root, 'bin', 'mnxc.js'), 'setup', 'native'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    const lines = (text) => (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
    if (run.status === 0) {
      console.log(`mnxc: ${lines(run.stdout).pop() ?? 'native backend built'}`);
    } else {
      const why = lines(run.stderr).find((l) => !l.startsWith('at ')) ?? (run.error ? String(run.error.message) : `exit ${run.status ?? run.signal}`);
      console.log(`mnxc: native backend not built (${why.replace(/^mnxc( [\w-]+)?: (error: )?/, '')}); mnxc runs without it, \`mnxc setup native\` retries`);
    }
  }
} catch (e) {
  console.log(`mnxc: native backend not built (${e instanceof Error ? e.message : e})`);
}
process.exit(0);
