// The configuration file's validated shape, shared by the loader and the schema.
import { relative } from 'node:path';
import type { LockMode } from '../core/lock-modes.js';
import type { ReporterName } from '../reporters/index.js';

/** Option values of the checks, by check id then option key (`locks.fail`). */
export type ThresholdValues = Record<string, Record<string, number | null>>;

export interface ConfiguredDatabase {
  name: string;
  /** Environment variable that holds the URL. */
  urlEnv: string;
  /** An unreachable optional database does not close the gate. */
  optional: boolean;
  /** Environment variables holding the URLs of its hot standbys (--replica-url). */
  replicaUrlEnvs: string[];
}

export interface PreflightConfig {
  /** Absolute path of the file it came from. */
  path: string;
  format?: ReporterName;
  failOn?: 'fail' | 'warn';
  lockMode?: LockMode;
  timeoutMs?: number;
  waitMs?: number;
  waitMaxIntervalMs?: number;
  concurrency?: number;
  only?: string[];
  skip?: string[];
  thresholds: ThresholdValues;
  /** Per-table overrides by table name as written (orders, billing.invoices). */
  tables: Record<string, ThresholdValues>;
  databases: ConfiguredDatabase[];
  /** Hot standbys of the one database checked (--replica-url), by the variables holding their URLs. */
  replicaUrlEnvs: string[];
}

/** The file as people see it: relative to the working directory when inside it. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}
