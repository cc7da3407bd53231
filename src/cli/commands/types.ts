import type { Argv } from 'yargs';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

export type Args = Record<string, unknown>;

/** One subcommand's module: its yargs options and a handler that returns the exit code. */
export interface CommandModule {
  builder: (y: Argv) => Argv;
  handler: (args: Args, io: Io) => Promise<number>;
}
