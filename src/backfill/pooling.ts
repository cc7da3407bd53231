// Is each of our connections its own PostgreSQL session? Behind a pooler in transaction
// mode (PgBouncer pool_mode=transaction) it is not: each transaction may run on another
// server connection, so a session-level advisory lock would stay behind on a pooled server
// connection, held for whoever uses it next, and not with the backfill.
//
// Detection, before any lock is taken: the backfill has two client connections. Direct
// connections always have distinct backends, each keeping its pid. So if one connection
// sees its pid change between transactions, or both see the same pid, something pools
// transactions. PgBouncer hands an idle server connection out last-in first-out (its
// default, server_round_robin = 0), so alternating looks land the second connection on
// the backend the first just released. The signal never fires on a direct connection; a
// pooler that happens to keep both on their own backends goes unnoticed (docs/backfill.md).
import type pg from 'pg';

const PID_SQL = 'SELECT pg_catalog.pg_backend_pid() AS pid';

export interface PoolingLook {
  pooled: boolean;
  /** What gave it away, for the message. */
  evidence: string | null;
}

async function pidOf(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ pid: number }>(PID_SQL);
  return rows[0]?.pid as number;
}

export async function detectTransactionPooling(main: pg.Client, other: pg.Client, rounds = 3): Promise<PoolingLook> {
  const mainPids: number[] = [];
  const otherPids: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    mainPids.push(await pidOf(main));
    otherPids.push(await pidOf(other));
  }
  if (new Set(mainPids).size > 1) return { pooled: true, evidence: `one connection ran on backends ${[...new Set(mainPids)].join(', ')} in turn` };
  const shared = otherPids.find((pid) => mainPids.includes(pid));
  if (shared !== undefined) return { pooled: true, evidence: `two connections both ran on backend ${shared}` };
  if (new Set(otherPids).size > 1) return { pooled: true, evidence: `one connection ran on backends ${[...new Set(otherPids)].join(', ')} in turn` };
  return { pooled: false, evidence: null };
}
