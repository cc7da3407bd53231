// Where a trace runs: a throwaway cluster started for it (the demo's binaries, 127.0.0.1,
// removed afterwards), or a database the user marked as a shadow. A shadow needs both the
// --shadow flag and a marker stored in the server's catalog for that database, set by
// someone who may change it; either of:
//
//   COMMENT ON DATABASE <name> IS 'pgpreflight:shadow';      -- the owner may (the comment may say more)
//   ALTER DATABASE <name> SET pgpreflight.shadow = on;       -- a superuser may
//
// A session setting does not count. Nothing else makes the trace run on a server it did not start.
import type pg from 'pg';
// The embedded backend only, as for the demo: the CLI never loads testcontainers.
import { startEmbeddedCluster as startCluster } from '../clusters/embedded.js';
import type { Cluster } from '../clusters/types.js';
import { connect, type ConnectionSpec } from '../core/connection.js';
import { PreflightError } from '../core/errors.js';
import type { TraceTargetKind } from './types.js';

export interface TraceTarget {
  kind: TraceTargetKind;
  display: string;
  serverVersion: string;
  major: number;
  connect(applicationName: string): Promise<pg.Client>;
  close(): Promise<void>;
}

export const SHADOW_SETTING = 'pgpreflight.shadow';
export const SHADOW_COMMENT = 'pgpreflight:shadow';

async function versionOf(client: pg.Client): Promise<{ serverVersion: string; major: number }> {
  const { rows } = await client.query<{ version: string; num: string }>("SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num");
  return { serverVersion: rows[0]?.version ?? '', major: Math.floor(Number(rows[0]?.num ?? 0) / 10000) };
}

/** Starts a throwaway cluster; `major` as for the demo (PGPREFLIGHT_PG_MAJOR, PGPREFLIGHT_PG_BIN, the installed default). */
export async function throwawayTarget(major: number | undefined): Promise<TraceTarget> {
  let cluster: Cluster;
  try {
    cluster = await startCluster(major === undefined ? {} : { major });
  } catch (error) {
    throw new PreflightError(`could not start a throwaway PostgreSQL for the trace: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, { cause: error });
  }
  try {
    const probe = await cluster.connect({ applicationName: 'pgpreflight-trace' });
    const version = await versionOf(probe).finally(() => probe.end());
    return {
      kind: 'throwaway',
      display: `throwaway PostgreSQL ${version.serverVersion} on 127.0.0.1:${cluster.port}`,
      ...version,
      connect: (applicationName) => cluster.connect({ applicationName }),
      close: () => cluster.stop(),
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** The marker, read from the catalogs (the database's comment, its own settings), never from the session. */
const MARKER_SQL = `
  WITH db AS (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  SELECT pg_catalog.pg_is_in_recovery() AS recovery,
         COALESCE(pg_catalog.shobj_description((SELECT oid FROM db), 'pg_database') ~ '(^|[^a-z_.])pgpreflight:shadow([^a-z_.]|$)', false)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) AS item
                     WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM db)
                       AND item ~* '^pgpreflight\\.shadow=(on|true|yes|1)$') AS marked`;

/** Connects to a database given with --url --shadow and refuses it unless it carries the marker. */
export async function shadowTarget(spec: ConnectionSpec, timeoutMs: number): Promise<TraceTarget> {
  const open = (applicationName: string): Promise<pg.Client> => connect(spec, { applicationName, timeoutMs });
  const probe = await open('pgpreflight-trace');
  try {
    const { rows } = await probe.query<{ recovery: boolean; marked: boolean }>(MARKER_SQL);
    if (rows[0]?.recovery) throw new PreflightError(`${spec.display} is a standby (in recovery): the trace runs DDL, point --url at the shadow database's primary`);
    if (!rows[0]?.marked) {
      throw new PreflightError(
        `${spec.display} is not marked as a shadow database, so the trace will not run a migration on it. If it is a disposable copy, mark it with: COMMENT ON DATABASE ${spec.database} IS '${SHADOW_COMMENT}'`,
      );
    }
    const version = await versionOf(probe);
    return { kind: 'shadow', display: spec.display, ...version, connect: open, close: async () => undefined };
  } finally {
    await probe.end().catch(() => undefined);
  }
}
