import type { Argv } from 'yargs';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

export type Args = Record<string, unknown>;

/** One subcommand: its yargs definition and a handler that returns the exit code. */
export interface CommandModule {
  command: string;
  describe: string;
  builder: (y: Argv) => Argv;
  handler: (args: Args, io: Io) => Promise<number>;
}
