// Who blocks whom, as the library's blockingTree() and `pgpreflight locks` read it: one
// read-only snapshot with the blocking-tree queries, turned into a forest of root blockers.
import type pg from 'pg';
import { connect, resolveConnection } from '../core/connection.js';
import { PreflightError, redact } from '../core/errors.js';
import { parseTables } from '../core/identifiers.js';
import { parseDuration } from '../core/units.js';
import type { TableRequest } from '../core/types.js';
import { APPLICATION_NAME } from '../gate/runner.js';
import { takeSnapshot, type SnapshotMemory } from '../gate/snapshot.js';
import { BLOCKING_TREE_QUERIES, buildBlockingTree, type BlockingTree } from '../incident/blocking-tree.js';
import { boundedLook } from '../incident/bounded-look.js';

export interface TreeLook {
  tree: BlockingTree;
  /** pgpreflight's own backend, never a candidate for --terminate. */
  ownPid: number;
}

/**
/**
 * One look on an open connection; `display` (user@host:port/database) names the server in the
 * tree and in errors. Bounded by timeoutMs even when the server stops answering
 * (src/incident/bounded-look.ts). `memory` carries the resolved tables between the looks of --watch.
 */
export async function readBlockingTree(client: pg.Client, tables: readonly TableRequest[], timeoutMs: number, display: string, user?: string, memory?: SnapshotMemory): Promise<TreeLook> {
  const snapshot = await boundedLook(client, display, timeoutMs, () => takeSnapshot(client, { tables, checks: [], options: {}, statementTimeoutMs: timeoutMs, queries: BLOCKING_TREE_QUERIES }, memory), user);
  return { tree: { ...buildBlockingTree(snapshot), server: display }, ownPid: snapshot.server.backendPid };
}

export interface BlockingTreeOptions {
  /** Connection URL. Default: DATABASE_URL, then PGHOST/PGUSER/... and ~/.pgpass. */
  url?: string;
  /** Only the trees that touch these tables; default: the whole database. */
  tables?: readonly string[];
  /** Budget for connecting and the look, e.g. `10s` (default). */
  timeout?: string;
  /** Environment for DATABASE_URL and PG*. Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Who blocks whom right now: each root blocker with everything queued behind it. Read-only. */
export async function blockingTree(options: BlockingTreeOptions = {}): Promise<BlockingTree> {
  const timeoutMs = parseDuration(options.timeout ?? '10s');
  if (timeoutMs === undefined || timeoutMs <= 0) throw new PreflightError(`timeout must be a positive duration such as 10s, got "${options.timeout ?? ''}"`);
  const tables = parseTables(options.tables ?? [], 'AccessExclusiveLock');
  const spec = resolveConnection(options.url, options.env ?? process.env);
  try {
    const client = await connect(spec, { applicationName: APPLICATION_NAME, timeoutMs, env: options.env ?? process.env });
    try {
      return (await readBlockingTree(client, tables, timeoutMs, spec.display, spec.user)).tree;
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    if (error instanceof PreflightError) throw new PreflightError(redact(error.message, spec.secrets), { cause: error.cause });
    throw error;
  }
}
