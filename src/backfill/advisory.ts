// One backfill per table at a time: a session-level advisory lock whose two int4 keys
// other tools can compute (docs/backfill.md):
//   key1 = ADVISORY_LOCK_CLASS_ID = 1885827174 (0x70677066, "pgpf" in ASCII)
//   key2 = the table's oid as int4: 'schema.table'::regclass::oid::int4
// e.g. SELECT pg_try_advisory_lock(1885827174, 'public.orders'::regclass::oid::int4);
import type pg from 'pg';
import { HOLDER_SQL, TRY_LOCK_SQL, UNLOCK_SQL } from './advisory.sql.js';
import { formatDuration } from '../core/units.js';

export const ADVISORY_LOCK_CLASS_ID = 0x70677066;

/** The two int4 keys for a table oid, as pg_try_advisory_lock(int4, int4) takes them. */
export function advisoryLockKey(tableOid: number): [number, number] {
  return [ADVISORY_LOCK_CLASS_ID, tableOid | 0];
}

export interface LockHolder {
  pid: number;
  application: string | null;
  user: string | null;
  client: string | null;
  state: string | null;
  connectedSeconds: number | null;
}

export function describeHolder(h: LockHolder): string {
  const facts = [
    h.application ? `app ${h.application}` : null,
    h.user ? `user ${h.user}` : null,
    h.client ? `from ${h.client}` : null,
    h.connectedSeconds === null ? null : `connected ${formatDuration(h.connectedSeconds * 1000)}`,
  ].filter((f): f is string => f !== null);
  return `pid ${h.pid}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`;
}

export async function tryAdvisoryLock(client: pg.Client, tableOid: number): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(TRY_LOCK_SQL, [ADVISORY_LOCK_CLASS_ID, tableOid]);
  return rows[0]?.locked === true;
}

export async function releaseAdvisoryLock(client: pg.Client, tableOid: number): Promise<void> {
  await client.query(UNLOCK_SQL, [ADVISORY_LOCK_CLASS_ID, tableOid]);
}

export async function advisoryLockHolders(client: pg.Client, tableOid: number): Promise<LockHolder[]> {
  const { rows } = await client.query<{ pid: number; application: string | null; user: string | null; client: string | null; state: string | null; connected_seconds: number | null }>(HOLDER_SQL, [
    ADVISORY_LOCK_CLASS_ID,
    tableOid,
  ]);
  return rows.map((r) => ({ pid: r.pid, application: r.application, user: r.user, client: r.client, state: r.state, connectedSeconds: r.connected_seconds }));
}
