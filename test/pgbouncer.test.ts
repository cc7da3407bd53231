// Through PgBouncer in transaction pooling mode the gate must see what it sees
// directly: every setting is SET LOCAL inside its one transaction, no named prepared
// statements, no session state between statements.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { parseTables } from '../src/cli/commands/shared.js';
import { resolveConnection } from '../src/core/connection.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce } from '../src/gate/runner.js';
import type { Report } from '../src/core/types.js';
import { startDelayProxy } from '../bench/proxy.js';
import { findPgBouncer, startPgBouncer, type PgBouncer } from './support/pgbouncer.js';
import { FAST_THRESHOLDS, findingsOf, gate, reportShape, runCli, session, sleep, stageLockQueue, useCluster, reportFrom } from './helpers.js';
import pgModule from 'pg';

const found = findPgBouncer();
if ('reason' in found) console.warn(`pgbouncer tests skipped: ${found.reason}`);

const THRESHOLDS = FAST_THRESHOLDS;


async function gateVia(url: string): Promise<Report> {
  const { report } = await runOnce({
    connection: resolveConnection(url, {}),
    tables: parseTables(['orders'], 'AccessExclusiveLock'),
    checks: CHECKS,
    options: resolveCheckOptions(CHECKS, THRESHOLDS),
    timeoutMs: 10_000,
  });
  return report;
}

describe.skipIf('reason' in found)('pgbouncer (transaction pooling)', () => {
  const cluster = useCluster();
  const open: pg.Client[] = [];
  let bouncer: PgBouncer;

  beforeAll(async () => {
    if (!('binary' in found)) return;
    bouncer = await startPgBouncer(found.binary, cluster());
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); CREATE TABLE other (id int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders');
    await stageLockQueue(cluster(), 'pgb', open);
  });

  afterAll(async () => {
    for (const client of open.splice(0)) await client.end().catch(() => undefined);
    await bouncer?.stop();
  });

  it('gives the same findings through PgBouncer as directly', async () => {
    const direct = await gate(cluster(), { flags: THRESHOLDS });
    expect(direct.verdict).toBe('fail');
    const holderPid = (await cluster().sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgb-holder'")).rows[0]?.pid as number;
    expect(findingsOf(direct, 'locks').map((f) => f.pid)).toContain(holderPid);
    const pooled = await gateVia(bouncer.url());
    expect(reportShape(pooled)).toEqual(reportShape(direct));
    expect(pooled.verdict).toBe(direct.verdict);
  });

  it('leaves no session state on the pooled server connection', async () => {
    // Through the one-connection pool, the next client gets the checker's own backend.
    const report = await gateVia(bouncer.url({ database: 'single' }));
    expect(report.verdict).toBe('fail');
    const next = new pgModule.Client({ connectionString: bouncer.url({ database: 'single' }) });
    await next.connect();
    try {
      const { rows } = await next.query<{ timeout: string; lock: string; idle: string; iso: string; ro: string }>(
        `SELECT current_setting('statement_timeout') AS timeout, current_setting('lock_timeout') AS lock,
                current_setting('idle_in_transaction_session_timeout') AS idle,
                current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro`,
      );
      expect(rows).toEqual([{ timeout: '0', lock: '0', idle: '0', iso: 'read committed', ro: 'off' }]);
      const prepared = await next.query('SELECT name FROM pg_prepared_statements');
      expect(prepared.rows).toEqual([]);
    } finally {
      await next.end();
    }
  });

  it('runs repeatedly through the same pooled connection', async () => {
    const first = await gateVia(bouncer.url({ database: 'single' }));
    const second = await gateVia(bouncer.url({ database: 'single' }));
    expect(reportShape(second)).toEqual(reportShape(first));
  });

  it('a loop looks through one pooled connection, one batch per look, and leaves nothing behind', async () => {
    const proxy = await startDelayProxy({ host: '127.0.0.1', port: bouncer.port }, 2);
    try {
      const result = await runCli(['locks', '--url', `postgresql://postgres@127.0.0.1:${proxy.port}/single?sslmode=disable`, '--format', 'json', '--watch', '100ms', '--refreshes', '3']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      await sleep(50);
      // startup, three looks of one batch each, Terminate
      expect(proxy.counts()).toMatchObject({ connections: 1, roundTrips: 5 });
    } finally {
      await proxy.close();
    }
    const next = new pgModule.Client({ connectionString: bouncer.url({ database: 'single' }) });
    await next.connect();
    try {
      const { rows } = await next.query("SELECT current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS timeout, (SELECT count(*)::int FROM pg_prepared_statements) AS prepared");
      expect(rows).toEqual([{ ro: 'off', timeout: '0', prepared: 0 }]);
    } finally {
      await next.end();
    }
  });

  it('the CLI exits as it does directly', async () => {
    const flags = Object.entries(THRESHOLDS).flatMap(([flag, value]) => [`--${flag}`, value]);
    const direct = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--format', 'json', ...flags]);
    const pooled = await runCli(['check', '--url', bouncer.url(), '--table', 'orders', '--format', 'json', ...flags]);
    expect(direct.code).toBe(1);
    expect(pooled.code).toBe(direct.code);
    expect(pooled.stderr).toBe('');
    expect(reportShape(reportFrom(pooled.stdout))).toEqual(reportShape(reportFrom(direct.stdout)));
  });

  it("a session behind the pooler keeps its application_name but shows the pooler's address", async () => {
    const app = new pgModule.Client({ connectionString: bouncer.url(), application_name: 'pgb-app' });
    app.on('error', () => undefined);
    await app.connect();
    open.push(app);
    await app.query('BEGIN');
    // Not orders: a reader of orders would queue behind the staged ALTER TABLE.
    await app.query('SELECT * FROM other LIMIT 1');
    const appAddress = `127.0.0.1:${(app as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort}`;
    await sleep(200);
    const report = await gateVia(bouncer.url());
    const finding = findingsOf(report, 'idle-in-transaction', 'idle-in-transaction-elsewhere').find((f) => f.application === 'pgb-app');
    expect(finding).toMatchObject({ severity: 'warn', state: 'idle in transaction' });
    // A container's server sees the host's connections (the pooler's) from the bridge's gateway.
    expect(finding?.client).toMatch(cluster().backend === 'embedded' ? /^127\.0\.0\.1:\d+$/ : /^\d+\.\d+\.\d+\.\d+:\d+$/);
    expect(finding?.client).not.toBe(appAddress);
  });
});
