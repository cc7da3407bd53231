// Logical replication around the target, on both ends. PostgreSQL does not replicate
// DDL, so a table that is published (or subscribed) must be migrated on each side by
// hand and in the right order; the wrong order stops the subscriber's apply worker, and
// its slot then keeps WAL on the publisher until the disk fills.
//
// A check of its own rather than part of replication-lag: that one is about physical
// standbys and every slot's WAL, whatever it holds; this one is about the targets (which
// publications include them, which subscribers read those) and about the migration's
// statements (which order each needs). See docs/replication.md.
//
// Every read is a catalog read: pg_publication_tables and pg_get_publication_tables()
// are NOT used, because from PostgreSQL 16 on they open each published table and queue
// behind the very ALTER TABLE the gate looks for (observed on 16, 17 and 18).
import { formatBytes, formatDuration } from '../src/core/units.js';
import type { Finding, Severity, Target } from '../src/core/types.js';
import type { MigrationStatement } from '../src/migration/index.js';
import { replicationChanges, type ReplicationChange } from '../src/replication/migration-changes.js';
import { publisherStep, ruleFor, subscriberStep, type OrderRule } from '../src/replication/ordering.js';
import { isTableSyncSlot, publicationsOfCommand } from '../src/replication/walsender.js';
import { defineCheck, statusOf, type CheckQuery, type QueryContext } from './types.js';

type Option = 'lagWarn' | 'lagFail';

/** The target, its partitions and inheritance children: ($1 target oid, $2 relation oid) pairs. */
function relationPairs(context: QueryContext): [number[], number[]] {
  const targets: number[] = [];
  const relations: number[] = [];
  for (const target of context.targets) {
    for (const relation of target.relations) {
      if (relation.kind === 'table' || relation.kind === 'partition' || relation.kind === 'child') {
        targets.push(target.oid);
        relations.push(relation.oid);
      }
    }
  }
  return [targets, relations];
}

/** The target and what is published or subscribed on its behalf: itself, its partitions, and the tables it is a partition of. */
const TARGET_RELATIONS_CTE = `
WITH RECURSIVE rels AS (
  SELECT u.target_oid, u.relid, CASE WHEN u.relid = u.target_oid THEN 'table' ELSE 'partition' END AS via, 0 AS depth
    FROM unnest($1::oid[], $2::oid[]) AS u(target_oid, relid)
  UNION ALL
  SELECT r.target_oid, h.inhparent, 'ancestor', r.depth + 1
    FROM rels r
    JOIN pg_class child ON child.oid = r.relid AND child.relispartition
    JOIN pg_inherits h ON h.inhrelid = r.relid
   WHERE r.via IN ('table', 'ancestor') AND r.depth < 64
)`;

const publicationsSql = (schemas: boolean): string => `${TARGET_RELATIONS_CTE}
SELECT r.target_oid::int8 AS target_oid, r.via,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS relation,
       p.pubname, p.puballtables, p.pubviaroot, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate,
       pr.prrelid IS NOT NULL AS listed,
       ${schemas ? 'pr.prattrs IS NOT NULL' : 'false'} AS column_list
  FROM rels r
  JOIN pg_class c ON c.oid = r.relid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_publication p ON true
  LEFT JOIN pg_publication_rel pr ON pr.prpubid = p.oid AND pr.prrelid = r.relid
 WHERE pr.prrelid IS NOT NULL
    OR (p.puballtables AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema'))${
      schemas ? `
    OR EXISTS (SELECT 1 FROM pg_publication_namespace pn WHERE pn.pnpubid = p.oid AND pn.pnnspid = c.relnamespace)` : ''
    }
 ORDER BY r.target_oid, p.pubname, r.depth`;

/**
 * Publications that include each target, from the catalogs (pg_publication_rel, FOR ALL
 * TABLES, FOR TABLES IN SCHEMA from 15): a partition is published through its partitioned
 * table, a partitioned table through its partitions.
 * https://www.postgresql.org/docs/current/logical-replication-publication.html
 */
export const PUBLICATIONS_SQL = [
  { since: 140000, sql: publicationsSql(false) },
  { since: 150000, sql: publicationsSql(true) },
] as const;

/** Each target's replica identity, primary key and constraints (for DROP CONSTRAINT and REPLICA IDENTITY changes). */
export const IDENTITY_SQL = `
SELECT c.oid::int8 AS oid, c.relreplident AS replica_identity,
       (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisprimary) AS primary_key,
       (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index,
       COALESCE((SELECT json_object_agg(k.conname, k.contype) FROM pg_constraint k WHERE k.conrelid = c.oid), '{}') AS constraints
  FROM pg_class c
 WHERE c.oid = ANY ($1::oid[])`;

const slotsSql = (since18: boolean): string => `
SELECT s.slot_name, s.plugin, s.active, s.active_pid, s.wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::float8 AS unconfirmed_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8 AS retained_bytes,
       ${since18 ? 'EXTRACT(EPOCH FROM statement_timestamp() - s.inactive_since)::float8' : 'NULL::float8'} AS inactive_seconds,
       ${since18 ? 's.invalidation_reason' : 'NULL::text'} AS invalidation_reason,
       r.application_name AS application, host(r.client_addr) AS client, r.state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 AS apply_lag_bytes,
       EXTRACT(EPOCH FROM r.replay_lag)::float8 AS apply_lag_seconds,
       a.query AS command
  FROM pg_replication_slots s
  LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
  LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
 WHERE s.slot_type = 'logical' AND s.database = current_database() AND NOT s.temporary
 ORDER BY s.slot_name`;

/**
 * The logical slots of this database and, for an active one, its walsender: the
 * subscriber's address, its positions, and the START_REPLICATION command that names the
 * publications it reads. confirmed_flush_lsn is what the subscriber confirmed; 18 adds
 * inactive_since (https://www.postgresql.org/docs/current/view-pg-replication-slots.html).
 */
export const LOGICAL_SLOTS_SQL = [
  { since: 140000, sql: slotsSql(false) },
  { since: 180000, sql: slotsSql(true) },
] as const;

const subscriptionsSql = (version: 14 | 15 | 16): string => `${TARGET_RELATIONS_CTE}
SELECT r.target_oid::int8 AS target_oid, r.via,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS relation,
       s.subname, s.subenabled, s.subpublications, s.subslotname, sr.srsubstate,
       w.pid AS apply_pid,
       EXTRACT(EPOCH FROM statement_timestamp() - w.last_msg_receipt_time)::float8 AS last_message_seconds,
       ${version >= 15 ? 'st.apply_error_count::int8' : 'NULL::int8'} AS apply_error_count,
       ${version >= 15 ? 'st.sync_error_count::int8' : 'NULL::int8'} AS sync_error_count
  FROM rels r
  JOIN pg_subscription_rel sr ON sr.srrelid = r.relid
  JOIN pg_subscription s ON s.oid = sr.srsubid
  JOIN pg_class c ON c.oid = r.relid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN LATERAL (
    SELECT w.pid, w.last_msg_receipt_time FROM pg_stat_subscription w
     WHERE w.subid = s.oid AND w.relid IS NULL AND w.pid IS NOT NULL${version >= 16 ? ' AND w.leader_pid IS NULL' : ''}
     LIMIT 1) w ON true${version >= 15 ? `
  LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid` : ''}
 ORDER BY r.target_oid, s.subname`;

/**
 * This server as a subscriber: the subscriptions that write into each target
 * (pg_subscription_rel), whether their apply worker runs (pg_stat_subscription: the
 * leader has no relid, and from 16 no leader_pid) and, from 15, how often it failed
 * (pg_stat_subscription_stats). pg_subscription's subconninfo is superuser-only and may
 * hold a password: it is never read.
 */
export const SUBSCRIPTIONS_SQL = [
  { since: 140000, sql: subscriptionsSql(14) },
  { since: 150000, sql: subscriptionsSql(15) },
  { since: 160000, sql: subscriptionsSql(16) },
] as const;

export const queries: readonly CheckQuery[] = [
  { name: 'logical-publications', sql: PUBLICATIONS_SQL, params: relationPairs },
  { name: 'logical-identity', sql: IDENTITY_SQL, params: (context) => [context.targets.map((t) => t.oid)] },
  { name: 'logical-slots', sql: LOGICAL_SLOTS_SQL },
  { name: 'logical-subscriptions', sql: SUBSCRIPTIONS_SQL, params: relationPairs },
];

interface PublicationRow {
  target_oid: number;
  via: 'table' | 'partition' | 'ancestor';
  relation: string;
  pubname: string;
  puballtables: boolean;
  pubviaroot: boolean;
  pubinsert: boolean;
  pubupdate: boolean;
  pubdelete: boolean;
  pubtruncate: boolean;
  listed: boolean;
  column_list: boolean;
}

interface IdentityRow {
  oid: number;
  replica_identity: string;
  primary_key: string | null;
  identity_index: string | null;
  constraints: Record<string, string>;
}

interface SlotRow {
  slot_name: string;
  plugin: string | null;
  active: boolean;
  active_pid: number | null;
  wal_status: string | null;
  unconfirmed_bytes: number | null;
  retained_bytes: number | null;
  inactive_seconds: number | null;
  invalidation_reason: string | null;
  application: string | null;
  client: string | null;
  state: string | null;
  apply_lag_bytes: number | null;
  apply_lag_seconds: number | null;
  command: string | null;
}

interface SubscriptionRow {
  target_oid: number;
  via: string;
  relation: string;
  subname: string;
  subenabled: boolean;
  subpublications: string[];
  subslotname: string | null;
  srsubstate: string;
  apply_pid: number | null;
  last_message_seconds: number | null;
  apply_error_count: number | null;
  sync_error_count: number | null;
}

interface Publication {
  name: string;
  how: string;
  updatesOrDeletes: boolean;
  columnList: boolean;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const bytes = (v: number | null): string => (v === null ? 'an unknown amount' : formatBytes(v));

function publicationsOf(rows: readonly PublicationRow[], target: Target): Publication[] {
  const byName = new Map<string, Publication>();
  for (const row of rows) {
    if (Number(row.target_oid) !== target.oid || byName.has(row.pubname)) continue;
    const scope = row.puballtables ? 'FOR ALL TABLES' : row.listed ? `FOR TABLE ${row.relation}` : `FOR TABLES IN SCHEMA of ${row.relation}`;
    const via = row.via === 'ancestor' ? `, through its partitioned table ${row.relation}` : row.via === 'partition' ? `, through its partition ${row.relation}` : '';
    const root = row.pubviaroot ? ', publish_via_partition_root' : '';
    byName.set(row.pubname, { name: row.pubname, how: `${scope}${via}${root}`, updatesOrDeletes: row.pubupdate || row.pubdelete, columnList: row.column_list });
  }
  return [...byName.values()];
}

/** The migration's replication-relevant changes on this target. */
function changesOn(statements: readonly MigrationStatement[] | undefined, target: Target): ReplicationChange[] {
  if (!statements) return [];
  return statements
    .flatMap(replicationChanges)
    .filter((c) => c.table.name === target.name && (c.table.schema === null || c.table.schema === target.schema));
}

function where(change: ReplicationChange): Pick<Finding, 'file' | 'line' | 'query'> {
  return { file: change.statement.file, line: change.statement.line, query: change.statement.excerpt };
}

/**
 * After this change, does the publisher reject UPDATE/DELETE of the table? A table
 * published for updates or deletes needs a replica identity: dropping the primary key
 * it uses, or REPLICA IDENTITY NOTHING, leaves it without one (observed on 17:
 * "cannot update table ... because it does not have a replica identity and publishes updates").
 */
function losesIdentity(change: ReplicationChange, identity: IdentityRow | undefined): boolean {
  if (change.kind === 'replica-identity') return change.replicaIdentity === 'nothing';
  if (change.kind !== 'drop-constraint' || !identity || change.constraint === undefined) return false;
  return identity.replica_identity === 'd' && identity.constraints[change.constraint] === 'p';
}

export default defineCheck<Option>({
  id: 'logical-replication',
  title: 'Logical replication',
  why: 'PostgreSQL does not replicate DDL: a published or subscribed table must be migrated on both sides in the right order, or the subscriber stops applying and its slot keeps WAL on the publisher until the disk fills.',
  privileges: 'pg_monitor to see which publications each subscriber reads (the walsender\'s command); the catalogs are readable by every role',
  options: {
    lagWarn: { kind: 'size', atMost: 'lagFail', default: '100MB', flag: 'logical-lag-warn', description: 'warn when a subscriber of the target has not confirmed this much WAL' },
    lagFail: { kind: 'size', default: '1GB', flag: 'logical-lag-fail', description: 'fail when a subscriber of the target has not confirmed this much WAL' },
  },
  queries,
  evaluate(snapshot, { options, migration }) {
    const extra = snapshot.extra;
    const publicationRows = (extra['logical-publications'] ?? []) as unknown as PublicationRow[];
    const identities = new Map(((extra['logical-identity'] ?? []) as unknown as IdentityRow[]).map((r) => [Number(r.oid), r]));
    const slots = ((extra['logical-slots'] ?? []) as unknown as SlotRow[]).filter((s) => s.plugin === 'pgoutput' && !isTableSyncSlot(s.slot_name));
    const subscriptionRows = (extra['logical-subscriptions'] ?? []) as unknown as SubscriptionRow[];
    const findings: Finding[] = [];
    const summary: string[] = [];
    const stoppedSlots = new Map<string, { slot: SlotRow; targets: string[]; publications: Set<string> }>();

    for (const target of snapshot.targets) {
      const name = target.qualifiedName;
      const identity = identities.get(target.oid);
      const constraintType = (constraint: string): string | undefined => identity?.constraints[constraint];
      const changes = changesOn(migration?.statements, target);
      const ordered = changes.map((change) => ({ change, rule: ruleFor(change, constraintType) })).filter((c): c is { change: ReplicationChange; rule: OrderRule } => c.rule !== null);

      // ---- Publisher side.
      const publications = publicationsOf(publicationRows, target);
      if (publications.length > 0) {
        const names = new Set(publications.map((p) => p.name));
        const subscribers: string[] = [];
        let unknownReaders = 0;
        for (const slot of slots) {
          if (!slot.active) {
            const entry = stoppedSlots.get(slot.slot_name) ?? { slot, targets: [], publications: new Set<string>() };
            entry.targets.push(name);
            names.forEach((n) => entry.publications.add(n));
            stoppedSlots.set(slot.slot_name, entry);
            continue;
          }
          const reads = publicationsOfCommand(slot.command);
          const who = slot.application ?? slot.slot_name;
          if (reads === null) {
            unknownReaders += 1;
            findings.push({
              kind: 'subscriber-unknown', severity: snapshot.server.canReadAllStats ? 'warn' : 'error', target: name,
              pid: num(slot.active_pid), application: slot.application, client: slot.client,
              message: snapshot.server.canReadAllStats
                ? `logical slot ${slot.slot_name} (${who}) is being read, but its walsender's command does not name its publications: it may read ${name}`
                : `logical slot ${slot.slot_name} (${who}) is being read, and the checker cannot see which publications it reads: grant it pg_monitor (GRANT pg_monitor TO <role>)`,
              details: { slot: slot.slot_name },
            });
            continue;
          }
          const via = reads.filter((p) => names.has(p));
          if (via.length === 0) continue;
          subscribers.push(who);
          const unconfirmed = num(slot.unconfirmed_bytes);
          const over = (limit: number | null): boolean => limit !== null && unconfirmed !== null && unconfirmed >= limit;
          const lagSeverity: Severity = over(options.lagFail) ? 'fail' : over(options.lagWarn) ? 'warn' : 'info';
          // Without --migration the change is unknown, so the order is the user's to get right: a warning.
          const base: Severity = migration ? 'info' : 'warn';
          const severity: Severity = lagSeverity === 'fail' ? 'fail' : lagSeverity === 'warn' || base === 'warn' ? 'warn' : 'info';
          const applySeconds = num(slot.apply_lag_seconds);
          const confirmed = unconfirmed === 0 ? 'it has confirmed every change' : `${bytes(unconfirmed)} of WAL not yet confirmed by it`;
          const lag = `${confirmed}${applySeconds === null ? '' : `, apply lag ${formatDuration(applySeconds * 1000)}`}`;
          findings.push({
            kind: 'subscriber', severity, target: name, pid: num(slot.active_pid), application: slot.application, client: slot.client, state: slot.state,
            message: `${name} is replicated to subscriber ${who}${slot.client ? ` at ${slot.client}` : ''} (slot ${slot.slot_name}, publication ${via.join(', ')}); ${lag}.${
              migration ? '' : ' PostgreSQL does not replicate DDL: the change must reach the subscriber too, in the order it needs (a new column: subscribers first; a dropped column: the publisher first; docs/replication.md)'
            }${lagSeverity !== 'info' ? `. It is behind by at least --logical-lag-${lagSeverity}` : ''}`,
            details: { slot: slot.slot_name, publications: via.join(','), unconfirmedBytes: unconfirmed, applyLagBytes: num(slot.apply_lag_bytes), applyLagSeconds: applySeconds },
          });
        }
        for (const { change, rule } of ordered) {
          const columnListOnly = change.kind === 'add-column' && publications.every((p) => p.columnList);
          if (columnListOnly) {
            findings.push({
              kind: 'replication-order', severity: 'info', target: name, ...where(change),
              message: `${change.statement.file}:${change.statement.line}: ${rule.what} on ${name} is not sent by ${publications.map((p) => p.name).join(', ')} (each lists its columns): no order is needed until you add it to the column list`,
              details: { change: change.kind, order: 'none' },
            });
            continue;
          }
          const broken = losesIdentity(change, identity) && publications.some((p) => p.updatesOrDeletes);
          const read = subscribers.length > 0 || unknownReaders > 0 || slots.some((s) => !s.active);
          findings.push({
            kind: broken ? 'replica-identity-lost' : 'replication-order', severity: broken ? 'fail' : read ? 'warn' : 'info', target: name, ...where(change),
            message: broken
              ? `${change.statement.file}:${change.statement.line}: after this statement ${name} has no replica identity while ${publications.filter((p) => p.updatesOrDeletes).map((p) => p.name).join(', ')} publishes its updates or deletes: every UPDATE and DELETE of ${name} on this server then fails. Give it another identity first (a primary key, REPLICA IDENTITY USING INDEX on a unique index, or FULL)`
              : `${change.statement.file}:${change.statement.line}: ${rule.what} on ${name}, which is published (${publications.map((p) => p.name).join(', ')}): ${publisherStep(rule.order, subscribers)}. ${capitalize(rule.why)}`,
            details: { change: change.kind, order: rule.order, subscribers: subscribers.join(','), publications: publications.map((p) => p.name).join(',') },
          });
        }
        if (subscribers.length === 0 && ![...stoppedSlots.values()].some((s) => s.targets.includes(name))) {
          findings.push({
            kind: 'published', severity: 'info', target: name,
            message: `${name} is published (${publications.map((p) => `${p.name}: ${p.how}`).join('; ')}), and no subscriber is reading those publications now`,
            details: { publications: publications.map((p) => p.name).join(',') },
          });
        }
        summary.push(`${name} published by ${publications.map((p) => p.name).join(', ')}${subscribers.length > 0 ? ` to ${subscribers.join(', ')}` : ''}`);
      }

      // ---- Subscriber side: this server applies changes into the target.
      const subscriptions = new Map<string, SubscriptionRow>();
      for (const row of subscriptionRows) if (Number(row.target_oid) === target.oid && !subscriptions.has(row.subname)) subscriptions.set(row.subname, row);
      for (const sub of subscriptions.values()) {
        const from = `publication ${sub.subpublications.join(', ')}`;
        const errors = num(sub.apply_error_count);
        const errorText = errors === null ? '' : `; pg_stat_subscription_stats counts ${errors} apply error(s)${Number(sub.sync_error_count) > 0 ? ` and ${String(sub.sync_error_count)} initial-copy error(s)` : ''} since its last reset`;
        const base = { target: name, details: { subscription: sub.subname, publications: sub.subpublications.join(','), relation: sub.relation, applyErrors: errors, state: sub.srsubstate } };
        if (!sub.subenabled) {
          findings.push({
            ...base, kind: 'subscription-disabled', severity: 'warn',
            message: `${name} is written by subscription ${sub.subname} (${from}), which is disabled: the publisher's changes wait in its slot there (and keep WAL) until ALTER SUBSCRIPTION ${sub.subname} ENABLE`,
          });
        } else if (sub.apply_pid === null) {
          findings.push({
            ...base, kind: 'subscription-stopped', severity: 'fail',
            message: `${name} is written by subscription ${sub.subname} (${from}), and its apply worker is not running${errorText}: the subscriber stopped applying. Look at this server's log (or pg_stat_subscription_stats) for the error, and fix its cause here, e.g. a column the publisher sends that this table lacks; the worker then resumes where it stopped`,
            remediation: {
              sql: `SELECT subname, apply_error_count, sync_error_count, stats_reset FROM pg_stat_subscription_stats WHERE subname = ${literal(sub.subname)};`,
              note: 'read-only (PostgreSQL 15+); the error itself is in the server log. Never drop the subscription or its slot to get past it: that loses its position and needs a full copy of every table again',
            },
          });
        } else {
          const syncing = sub.srsubstate !== 'r' && sub.srsubstate !== 's';
          findings.push({
            ...base, kind: 'subscribed', severity: syncing || !migration ? 'warn' : 'info', pid: num(sub.apply_pid),
            message: `${name} is written by subscription ${sub.subname} (${from}), apply worker pid ${String(sub.apply_pid)} running${
              sub.last_message_seconds === null ? '' : `, last message from the publisher ${formatDuration(Number(sub.last_message_seconds) * 1000)} ago`
            }${errorText}${syncing ? `; its initial copy of ${sub.relation} is not finished (state ${sub.srsubstate})` : ''}.${
              migration ? '' : ' PostgreSQL does not replicate DDL: migrate this side and the publisher in the order the change needs (docs/replication.md)'
            }`,
          });
        }
        for (const { change, rule } of ordered) {
          findings.push({
            kind: 'replication-order', severity: 'warn', target: name, ...where(change),
            message: `${change.statement.file}:${change.statement.line}: ${rule.what} on ${name}, which subscription ${sub.subname} writes here: ${subscriberStep(rule.order, sub.subname)}. ${capitalize(rule.why)}`,
            details: { change: change.kind, order: rule.order, subscription: sub.subname },
          });
        }
      }
      if (subscriptions.size > 0) summary.push(`${name} subscribed by ${[...subscriptions.keys()].join(', ')}`);
    }

    for (const { slot, targets, publications } of stoppedSlots.values()) {
      const inactiveFor = num(slot.inactive_seconds);
      findings.push({
        kind: 'subscriber-stopped', severity: 'fail', target: targets[0],
        message: `logical slot ${slot.slot_name} is not being read: no subscriber is connected${inactiveFor === null ? '' : ` (for ${formatDuration(inactiveFor * 1000)})`}, it has not confirmed ${bytes(num(slot.unconfirmed_bytes))} of WAL and keeps ${bytes(num(slot.retained_bytes))} on disk${
          slot.wal_status ? ` (wal_status ${slot.wal_status}${slot.invalidation_reason ? `, invalidated: ${slot.invalidation_reason}` : ''})` : ''
        }. ${targets.join(', ')} ${targets.length > 1 ? 'are' : 'is'} published (${[...publications].join(', ')}), and an inactive slot does not say which publications it reads. A subscriber stops like this when its apply worker keeps failing (e.g. the publisher sends a column the subscriber's table lacks) or when it is disabled: look at the subscriber's log or pg_stat_subscription_stats there, and fix the cause on the subscriber`,
        remediation: {
          sql: `SELECT slot_name, active, confirmed_flush_lsn, pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) AS retained FROM pg_replication_slots WHERE slot_name = ${literal(slot.slot_name)};`,
          note: `read-only: watch whether it moves. Do not drop the slot: its subscriber would lose every change it has not applied and need a full resync; on the subscriber, SELECT subname, apply_error_count FROM pg_stat_subscription_stats (15+) and its log tell why it stopped`,
        },
        details: { slot: slot.slot_name, unconfirmedBytes: num(slot.unconfirmed_bytes), retainedBytes: num(slot.retained_bytes), inactiveSeconds: inactiveFor, walStatus: slot.wal_status },
      });
    }

    const status = statusOf(findings);
    const stopped = findings.filter((f) => f.kind === 'subscriber-stopped' || f.kind === 'subscription-stopped').length;
    if (stopped > 0) summary.unshift(`${stopped} stopped subscription(s)`);
    return { status, summary: summary.length > 0 ? summary.join('; ') : 'the target is not published or subscribed', findings };
  },
});

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

