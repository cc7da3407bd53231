// Subcommands, one module each. Adding a command = its module + one line here.
import check from './check.js';
import checks from './checks.js';
import config from './config.js';
import demo from './demo.js';
import locks from './locks.js';
import run from './run.js';
import type { CommandModule } from './types.js';

export const COMMANDS: readonly CommandModule[] = [check, checks, config, demo, locks, run];
