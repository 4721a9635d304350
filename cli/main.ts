import { commandEntries } from './commands/index.js';
import { exitCodeFor } from './errors.js';
import { reportFailure, takeDebugFlag } from './report-error.js';

const VERSION = '0.1.0';

function topHelp(commands: { name: string; summary: string }[]): string {
  const width = Math.max(...commands.map((c) => c.name.length), 8);
  return [
    'mnxc — MedNeXt compiler and nnU-Net-style pipeline on TensorFlow.js',
    '',
    'Usage: mnxc <command> [options]   (mnxc <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Any command also takes --debug: on an unexpected failure, print the stack trace too.',
  ].join('\n');
}

/** Runs one command line; returns the exit code (0 ok, 1 diagnostics / bad input, 2 usage). */
export async function main(argv: string[]): Promise<number> {
  const commands = commandEntries;
  const args = [...argv];
  const debug = takeDebugFlag(args);
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp(commands) + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`mnxc: unknown command '${name}'\n\n${topHelp(commands)}\n`);
    return 2;
  }
  const { command } = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help.trimEnd() + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    const code = exitCodeFor(e);
    if (code === null) return reportFailure(name, e, debug);
    const message = (e as Error).message;
    process.stderr.write(code === 2 ? `mnxc ${name}: ${message}\n(see 'mnxc ${name} --help')\n` : `mnxc ${name}: error: ${message}\n`);
    return code;
  }
}
