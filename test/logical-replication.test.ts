// Logical replication staged for real: a publisher (wal_level=logical) with two
// subscribers, one reading `orders`, the other `other`. The gate names the subscribers of
// the published target only, gives each migration statement its order, sees a subscriber
// that stopped applying (after ADD COLUMN on the publisher first) from both ends, and
// never offers to drop a slot or terminate a walsender.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { remediationFor } from '../checks/support.js';
import { startCluster, type Cluster } from '../src/clusters/cluster.js';
import { parseTables } from '../src/cli/commands/shared.js';
import { resolveConnection } from '../src/core/connection.js';
import type { Finding, Report, Session } from '../src/core/types.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce } from '../src/gate/runner.js';
import { analyzeSources, mergeTableRequests } from '../src/migration/index.js';
import { replicationChanges, tokensOf } from '../src/replication/migration-changes.js';
import { publicationsOfCommand } from '../src/replication/walsender.js';
import { checkOf, findingsOf, gate, runCli, waitFor, reportFrom } from './helpers.js';

const ID = 'logical-replication';
let publisher: Cluster;
let ordersSubscriber: Cluster;
let otherSubscriber: Cluster;
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-logical-'));

function file(name: string, sql: string): string {
  const path = join(dir, name);
  writeFileSync(path, sql);
  return path;
}

async function subscribe(subscriber: Cluster, name: string, publication: string): Promise<void> {
  await subscriber.sql(`CREATE SUBSCRIPTION ${name} CONNECTION 'host=127.0.0.1 port=${publisher.port} user=postgres dbname=postgres' PUBLICATION ${publication}`);
  await waitFor(subscriber, "SELECT 1 FROM pg_subscription_rel HAVING count(*) > 0 AND bool_and(srsubstate = 'r')");
  await waitFor(publisher, "SELECT 1 FROM pg_replication_slots s JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = $1 AND a.query LIKE 'START_REPLICATION%'", [name]);
}

/** The gate on one server, in-process, optionally with a migration. */
async function gateWith(cluster: Cluster, tables: string[], migrationSql?: string): Promise<Report> {
  const migration = migrationSql === undefined ? undefined : await analyzeSources([{ file: 'm.sql', text: migrationSql }]);
  const checks = CHECKS.filter((c) => c.id === ID);
  const { report } = await runOnce({
    connection: resolveConnection(cluster.url(), {}),
    tables: mergeTableRequests(parseTables(tables, 'AccessExclusiveLock'), migration?.tables ?? []),
    checks,
    options: resolveCheckOptions(checks, {}),
    timeoutMs: 10_000,
    migration,
  });
  return report;
}

const noHarmfulFix = (report: Report): void => {
  const fixes = report.checks.flatMap((c) => c.findings).map((f) => f.remediation?.sql ?? '');
  for (const fix of fixes) expect(fix).not.toMatch(/pg_drop_replication_slot|pg_terminate_backend|DROP SUBSCRIPTION/i);
};

beforeAll(async () => {
  const logical = { wal_level: 'logical', max_wal_senders: 10, max_replication_slots: 10 };
  // A failed apply worker is retried after wal_retrieve_retry_interval: 30 s keeps the
  // stopped state steady while the test looks at it, instead of a retry every 5 s.
  [publisher, ordersSubscriber, otherSubscriber] = await Promise.all([
    startCluster({ settings: logical }),
    startCluster({ settings: { wal_retrieve_retry_interval: '30s' } }),
    // Retried every second: the recovery test waits for its worker to come back.
    startCluster({ settings: { wal_retrieve_retry_interval: '1s' } }),
  ]);
  await publisher.sql(`
    CREATE TABLE orders (id int PRIMARY KEY, total int, note_old text);
    CREATE TABLE other (id int PRIMARY KEY);
    CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE lonely (id int PRIMARY KEY);
    INSERT INTO orders SELECT g, g, 'x' FROM generate_series(1, 10) g;
    CREATE PUBLICATION pub_orders FOR TABLE orders;
    CREATE PUBLICATION pub_other FOR TABLE other;`);
  await ordersSubscriber.sql('CREATE TABLE orders (id int PRIMARY KEY, total int, note_old text)');
  await otherSubscriber.sql('CREATE TABLE other (id int PRIMARY KEY)');
  await subscribe(ordersSubscriber, 'sub_orders', 'pub_orders');
  await subscribe(otherSubscriber, 'sub_other', 'pub_other');
}, 120_000);

afterAll(async () => {
  await Promise.all([ordersSubscriber?.stop(), otherSubscriber?.stop()]);
  await publisher?.stop();
});

describe('logical-replication: reading a migration', () => {
  it('finds the changes each order depends on, past comments, literals and quoted names', async () => {
    const { statements } = await analyzeSources([
      {
        file: 'x.sql',
        text: `ALTER TABLE orders ADD COLUMN note text;
ALTER TABLE orders OWNER TO app; -- REPLICA IDENTITY FULL
ALTER TABLE orders REPLICA IDENTITY FULL;
ALTER TABLE orders ADD CONSTRAINT u UNIQUE (total);
ALTER TABLE orders ADD CONSTRAINT "primary key" PRIMARY KEY (id);
ALTER TABLE orders DROP CONSTRAINT IF EXISTS "Orders_PKey";
ALTER TABLE orders RENAME CONSTRAINT u TO u2;
ALTER TABLE orders RENAME COLUMN total TO amount;`,
      },
    ]);
    const kinds = statements.map((s) => replicationChanges(s).map((c) => c.kind));
    expect(kinds).toEqual([['add-column'], [], ['replica-identity'], ['add-constraint'], ['primary-key'], ['drop-constraint'], [], ['rename']]);
    expect(replicationChanges(statements[2] as (typeof statements)[number])[0]?.replicaIdentity).toBe('full');
    expect(replicationChanges(statements[5] as (typeof statements)[number])[0]?.constraint).toBe('Orders_PKey');
    expect(tokensOf("SELECT 'replica identity', $$primary key$$, E'\\'' /* x */").map((t) => t.text)).toEqual(['select', ',', ',']);
  });

  it('reads the publications a walsender streams from its command', () => {
    expect(publicationsOfCommand(`START_REPLICATION SLOT "s" LOGICAL 0/0 (proto_version '4', origin 'any', publication_names '"pub_a","Pub ""B""",plain')`)).toEqual(['pub_a', 'Pub "B"', 'plain']);
    expect(publicationsOfCommand('<insufficient privilege>')).toBeNull();
    expect(publicationsOfCommand(null)).toBeNull();
  });
});

describe('remediations that do no harm', () => {
  const session = (backendType: string): Session => ({
    pid: 4242, leaderPid: null, database: 'app', user: 'replicator', application: 'sub1', client: null, backendType, state: 'active', query: 'COPY public.orders TO STDOUT',
    waitEventType: null, waitEvent: null, xactAgeSeconds: 60, queryAgeSeconds: 60, stateAgeSeconds: 60, backendXid: null, backendXmin: null, xminAge: null, hidden: false,
  });

  it('never cancels or terminates a walsender or a subscriber\'s apply worker', () => {
    for (const type of ['walsender', 'logical replication worker', 'logical replication apply worker', 'logical replication tablesync worker']) {
      const fix = remediationFor(session(type));
      expect(fix?.sql).toMatch(/^SELECT [^;]* FROM pg_stat_activity WHERE pid = 4242;$/);
      expect(fix?.note).toMatch(/ALTER SUBSCRIPTION <name> DISABLE/);
    }
    expect(remediationFor(session('client backend'))?.sql).toBe('SELECT pg_cancel_backend(4242);');
  });

  it('gives a prepared transaction a read-only look, its COMMIT/ROLLBACK only as a comment', () => {
    const fix = remediationFor(undefined, { gid: "it's", owner: 'app', database: 'app', transactionId: '900', ageSeconds: 10, virtualTransaction: null });
    const [runs, comment] = (fix?.sql ?? '').split('--');
    expect(runs).toBe("SELECT gid, owner, database, prepared FROM pg_prepared_xacts WHERE gid = 'it''s';  ");
    expect(comment).toContain("ROLLBACK PREPARED 'it''s'");
  });
});

describe('logical-replication on the publisher', () => {
  it('names the subscribers of the published target only', async () => {
    const orders = await gate(publisher, { only: [ID], tables: ['orders'] });
    expect(checkOf(orders, ID).status).toBe('warn');
    const [subscriber, ...rest] = findingsOf(orders, ID, 'subscriber');
    expect(rest).toEqual([]);
    expect(subscriber).toMatchObject({ severity: 'warn', application: 'sub_orders', details: expect.objectContaining({ slot: 'sub_orders', publications: 'pub_orders' }) });
    expect(JSON.stringify(orders)).not.toContain('sub_other');

    const other = await gate(publisher, { only: [ID], tables: ['other'] });
    expect(findingsOf(other, ID, 'subscriber').map((f) => f.application)).toEqual(['sub_other']);

    const lonely = await gate(publisher, { only: [ID], tables: ['lonely'] });
    expect(checkOf(lonely, ID)).toMatchObject({ status: 'pass', findings: [] });
  });

  it('gives each migration statement its order (built CLI, exit 0 on warnings)', async () => {
    const add = file('1_add.sql', "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;\n");
    const drop = file('2_drop.sql', "SET lock_timeout = '2s';\nALTER TABLE orders DROP COLUMN note_old;\n");
    const type = file('3_type.sql', "SET lock_timeout = '2s';\nALTER TABLE orders ALTER COLUMN total TYPE bigint;\n");
    const result = await runCli(['check', '--url', publisher.url(), '--only', ID, '--migration', add, '--migration', drop, '--migration', type, '--format', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = reportFrom(result.stdout);
    expect(checkOf(report, ID).status).toBe('warn');
    const orders = findingsOf(report, ID, 'replication-order');
    const orderOf = (path: string): Finding | undefined => orders.find((f) => f.file === path);
    expect(orderOf(add)).toMatchObject({ severity: 'warn', line: 2, details: expect.objectContaining({ change: 'add-column', order: 'subscribers-first', subscribers: 'sub_orders' }) });
    expect(orderOf(drop)).toMatchObject({ severity: 'warn', line: 2, details: expect.objectContaining({ change: 'drop-column', order: 'publisher-first' }) });
    expect(orderOf(type)).toMatchObject({ severity: 'warn', line: 2, details: expect.objectContaining({ change: 'alter-column-type', order: 'both' }) });
    // With the migration known, the subscriber itself is information; the orders carry the warning.
    expect(findingsOf(report, ID, 'subscriber')).toEqual([expect.objectContaining({ severity: 'info', application: 'sub_orders' })]);
  });

  it('fails a migration that leaves a table published for updates without a replica identity', async () => {
    // What the finding says happens, happens: the publisher rejects the UPDATE.
    await publisher.sql('CREATE TABLE ident (id int PRIMARY KEY, v int); INSERT INTO ident VALUES (1, 1); CREATE PUBLICATION pub_ident FOR TABLE ident');
    await publisher.sql('ALTER TABLE ident DROP CONSTRAINT ident_pkey');
    await expect(publisher.sql('UPDATE ident SET v = 2')).rejects.toThrow(/does not have a replica identity and publishes updates/);
    await publisher.sql('DROP PUBLICATION pub_ident; DROP TABLE ident');

    const report = await gateWith(publisher, [], 'ALTER TABLE orders DROP CONSTRAINT orders_pkey;');
    expect(checkOf(report, ID).status).toBe('fail');
    expect(findingsOf(report, ID, 'replica-identity-lost')).toEqual([expect.objectContaining({ severity: 'fail', line: 1 })]);
    const full = await gateWith(publisher, [], 'ALTER TABLE orders REPLICA IDENTITY FULL;');
    expect(findingsOf(full, ID, 'replication-order')).toEqual([expect.objectContaining({ severity: 'warn', details: expect.objectContaining({ change: 'replica-identity', order: 'both' }) })]);
  });

  it('sees FOR ALL TABLES and a partitioned table published through its root', async () => {
    await publisher.sql('CREATE PUBLICATION pub_events FOR TABLE events WITH (publish_via_partition_root = true)');
    await publisher.sql('CREATE PUBLICATION pub_everything FOR ALL TABLES');
    try {
      const partition = await gate(publisher, { only: [ID], tables: ['events_2025'] });
      const [published] = findingsOf(partition, ID, 'published');
      expect(published?.message).toMatch(/pub_events: FOR TABLE public\.events, through its partitioned table public\.events, publish_via_partition_root/);
      expect(published?.message).toMatch(/pub_everything: FOR ALL TABLES/);
      const root = await gate(publisher, { only: [ID], tables: ['events'] });
      expect(findingsOf(root, ID, 'published')[0]?.details?.publications).toBe('pub_events,pub_everything');
      const lonely = await gate(publisher, { only: [ID], tables: ['lonely'] });
      expect(checkOf(lonely, ID).status).toBe('pass');
      expect(findingsOf(lonely, ID, 'published')[0]?.message).toMatch(/pub_everything: FOR ALL TABLES/);
      if (publisher.major >= 15) {
        await publisher.sql('CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int PRIMARY KEY); CREATE PUBLICATION pub_billing FOR TABLES IN SCHEMA billing');
        const schema = await gate(publisher, { only: [ID], tables: ['billing.invoices'] });
        expect(findingsOf(schema, ID, 'published')[0]?.message).toMatch(/pub_billing: FOR TABLES IN SCHEMA/);
      }
    } finally {
      await publisher.sql('DROP PUBLICATION pub_events, pub_everything');
    }
  });

  it('reads the catalogs without queueing behind a waiting ALTER TABLE on the published table', async () => {
    const holder = await publisher.connect({ applicationName: 'logical-holder' });
    const waiter = await publisher.connect({ applicationName: 'logical-waiter' });
    try {
      await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
      void waiter.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE').catch(() => undefined);
      await waitFor(publisher, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'logical-waiter' AND wait_event_type = 'Lock'");
      const report = await gate(publisher, { only: [ID], tables: ['orders'] });
      expect(checkOf(report, ID).status).toBe('warn');
      expect(findingsOf(report, ID, 'subscriber')).toHaveLength(1);
    } finally {
      await publisher.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ('logical-waiter', 'logical-holder')");
      await Promise.all([holder.end().catch(() => undefined), waiter.end().catch(() => undefined)]);
    }
  });

  it('without pg_monitor cannot tell which publications a subscriber reads: error, not pass', async () => {
    await publisher.sql('CREATE ROLE logical_limited LOGIN');
    const report = await gate(publisher, { only: [ID], tables: ['orders'], user: 'logical_limited' });
    expect(checkOf(report, ID).status).toBe('error');
    expect(findingsOf(report, ID, 'subscriber-unknown').length).toBeGreaterThan(0);
  });
});

describe('logical-replication on the subscriber', () => {
  it('says which subscription writes the target, from which publication, and that it applies', async () => {
    const report = await gate(ordersSubscriber, { only: [ID], tables: ['orders'] });
    expect(checkOf(report, ID).status).toBe('warn');
    expect(findingsOf(report, ID, 'subscribed')).toEqual([
      expect.objectContaining({ severity: 'warn', details: expect.objectContaining({ subscription: 'sub_orders', publications: 'pub_orders', state: 'r' }) }),
    ]);
    const migration = await gateWith(ordersSubscriber, [], 'ALTER TABLE orders ADD COLUMN note text;');
    const [order] = findingsOf(migration, ID, 'replication-order');
    expect(order).toMatchObject({ severity: 'warn', details: expect.objectContaining({ order: 'subscribers-first', subscription: 'sub_orders' }) });
    expect(order?.message).toContain('apply it here (subscription sub_orders) before the publisher');
  });
});

describe('a subscriber that stopped applying', () => {
  it('DROP COLUMN on the subscriber first stops apply too; adding the column back there resumes it, nothing lost', async () => {
    await publisher.sql('ALTER TABLE other ADD COLUMN flag int');
    await otherSubscriber.sql('ALTER TABLE other ADD COLUMN flag int');
    await publisher.sql('INSERT INTO other VALUES (1, 1)');
    await waitFor(otherSubscriber, 'SELECT 1 FROM other WHERE id = 1');
    // The wrong order for a dropped column: the subscriber first.
    await otherSubscriber.sql('ALTER TABLE other DROP COLUMN flag');
    await publisher.sql('INSERT INTO other VALUES (2, 2)');
    const failed = otherSubscriber.major >= 15
      ? "SELECT 1 FROM pg_stat_subscription_stats WHERE subname = 'sub_other' AND apply_error_count > 0"
      : "SELECT 1 FROM pg_stat_subscription WHERE subname = 'sub_other' AND pid IS NULL";
    await waitFor(otherSubscriber, failed);
    expect((await otherSubscriber.sql('SELECT count(*)::int AS n FROM other')).rows[0]?.n).toBe(1);
    // The fix the finding gives: on the subscriber, accept what the publisher sends.
    await otherSubscriber.sql('ALTER TABLE other ADD COLUMN flag int');
    await waitFor(otherSubscriber, 'SELECT 1 FROM other WHERE id = 2 AND flag = 2');
    await waitFor(publisher, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sub_other' AND active");
    expect(checkOf(await gate(otherSubscriber, { only: [ID], tables: ['other'] }), ID).status).toBe('warn');
  });

  it('ADD COLUMN on the publisher first breaks apply at the next insert; the next gate fails naming it, with no drop-slot fix', async () => {
    await publisher.sql('ALTER TABLE orders ADD COLUMN note text');
    await publisher.sql("INSERT INTO orders VALUES (100, 1, 'x', 'the new column')");
    const stopped = ordersSubscriber.major >= 15
      ? "SELECT 1 FROM pg_stat_subscription_stats WHERE subname = 'sub_orders' AND apply_error_count > 0"
      : "SELECT 1 FROM pg_stat_subscription WHERE subname = 'sub_orders' AND pid IS NULL";
    await waitFor(ordersSubscriber, stopped);
    await waitFor(ordersSubscriber, "SELECT 1 FROM pg_stat_subscription WHERE subname = 'sub_orders' AND pid IS NULL");
    await waitFor(publisher, "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sub_orders' AND NOT active");

    const result = await runCli(['check', '--url', publisher.url(), '--table', 'orders', '--format', 'json']);
    expect(result.code).toBe(1);
    const report = reportFrom(result.stdout);
    expect(checkOf(report, ID).status).toBe('fail');
    const [finding] = findingsOf(report, ID, 'subscriber-stopped');
    expect(finding).toMatchObject({ severity: 'fail', target: 'public.orders', details: expect.objectContaining({ slot: 'sub_orders' }) });
    expect(finding?.message).toContain('sub_orders');
    // The other subscriber reads another publication and is untouched.
    expect(JSON.stringify(findingsOf(report, ID))).not.toContain('sub_other');
    noHarmfulFix(report);
    expect(result.stdout).not.toContain('pg_drop_replication_slot');
    const slotNote = findingsOf(report, 'replication-lag', 'inactive-slot').find((f) => f.details?.slot === 'sub_orders');
    expect(slotNote?.remediation?.note).toMatch(/resync/);

    // The subscriber's side says the same in its own terms.
    const subscriberView = await gate(ordersSubscriber, { only: [ID], tables: ['orders'] });
    expect(checkOf(subscriberView, ID).status).toBe('fail');
    const [notApplying] = findingsOf(subscriberView, ID, 'subscription-stopped');
    expect(notApplying?.details?.subscription).toBe('sub_orders');
    if (ordersSubscriber.major >= 15) expect(Number(notApplying?.details?.applyErrors)).toBeGreaterThan(0);
    noHarmfulFix(subscriberView);
  });
});
