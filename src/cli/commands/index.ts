// Subcommands by name. Adding a command = its module + one entry here. A module loads only
// when its command runs (or its --help is asked for), so `check` never pays for `locks`.
import type { CommandModule } from './types.js';

export interface CommandEntry {
  describe: string;
  /** The synopsis after `pgpreflight` in the command's --help (default: `<name> [options]`). */
  usage?: string;
  load: () => Promise<{ default: CommandModule }>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  activity: {
    describe: 'is the database under pressure, and from what: average active sessions by wait class, top waits and statements, live with --watch',
    usage: 'activity [options] [--watch]',
    load: () => import('./activity.js'),
  },
  backfill: {
    describe: 'update a table in small key-range batches that pause for replica lag, yield to the lock queue and run one at a time',
    usage: 'backfill --table <name> --set <sql> [--where <sql>] [options]',
    load: () => import('./backfill.js'),
  },
  check: {
    describe: 'inspect the server for what would block, or be blocked by, a migration of --table',
    usage: 'check [options] (--table <name>… | --migration <file>…)',
    load: () => import('./check.js'),
  },
  checks: {
    describe: 'list every check: what it looks at, why it matters, its thresholds and the privileges it needs',
    usage: 'checks [--format table|json|markdown]',
    load: () => import('./checks.js'),
  },
  config: {
    describe: 'print the effective configuration of `check` with the source of each value (flags > environment > config file > defaults)',
    usage: 'config [options] [--format table|json]',
    load: () => import('./config.js'),
  },
  demo: {
    describe: 'start a throwaway PostgreSQL, stage a forgotten transaction and a queued ALTER, and show the gate pass, fail and pass again',
    usage: 'demo',
    load: () => import('./demo.js'),
  },
  locks: {
    describe: 'show who blocks whom (the blocking tree), live with --watch; end root blockers with --terminate',
    usage: 'locks [options] [--watch [interval] | --terminate idle|all --older-than <age>]',
    load: () => import('./locks.js'),
  },
  run: {
    describe: 'gate, then run the migration command (after --) with lock_timeout/statement_timeout, cancel it when it queues, retry lock failures',
    usage: 'run [options] (--table <name>… | --migration <file>…) -- <command…>',
    load: () => import('./run.js'),
  },
  trace: {
    describe: 'run the migration on a throwaway PostgreSQL (after its history) and report what each statement really locked, rewrote and scanned',
    usage: 'trace --migration <file>… [options]',
    load: () => import('./trace.js'),
  },
  'wait-for-replicas': {
    describe: 'wait until every streaming replica is within --max-lag (the backfill\'s throttle, for batch loops of your own)',
    usage: 'wait-for-replicas [--max-lag <size>] [options]',
    load: () => import('./wait-for-replicas.js'),
  },
};
