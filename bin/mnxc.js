#!/usr/bin/env node
// Entry point: runs the TypeScript CLI through tsx's loader, so there is no build step to go stale.
import { register } from 'tsx/esm/api';
register();
const debug = process.argv.includes('--debug') || process.env.MNXC_DEBUG === '1';
// Failures outside a command's own flow (a worker, a timer) still end as one line, not a trace.
const crash = (e) => {
  process.stderr.write(`mnxc: error: ${e instanceof Error ? e.message : String(e)}\n`);
  if (debug && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
