import type { Command } from '../command.js';

export interface CommandEntry {
  name: string;
  summary: string;
  /** Loaded lazily so `mnxc check` never pays for loading TF.js. */
  load: () => Promise<{ command: Command }>;
}

/** Every sub-command, in the order `mnxc --help` lists them; one line per command. */
export const commandEntries: CommandEntry[] = [
  // compiler
  // data
  // runtime
];
