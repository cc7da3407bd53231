// Every finding `kind` a report can carry, with what it means: the published list
// (docs/json.md is generated from it, schema/report.schema.json enumerates it). A kind is
// part of the public interface (CHANGELOG): kinds are only added within a major version.
// A check that emits a kind not listed here fails the tests (test/helpers.ts gate(),
// test/report-schema.test.ts): add it here, with its check and one line on what it means.

export interface FindingKind {
  /** The check that reports it. */
  check: string;
  description: string;
}

export const FINDING_KINDS = {
  // autovacuum
  autovacuum: { check: 'autovacuum', description: 'an ordinary autovacuum is working on the table: conflicting DDL cancels it after deadlock_timeout (information unless its lock conflicts)' },
  'anti-wraparound-vacuum': { check: 'autovacuum', description: 'an anti-wraparound autovacuum is working on the table: DDL does not cancel it, the migration would wait for it' },
  'manual-vacuum': { check: 'autovacuum', description: 'a VACUUM someone ran is working on the table: the migration would wait for it' },
  'table-rewrite': { check: 'autovacuum', description: 'a VACUUM FULL or CLUSTER is rewriting the table (ddl-in-progress reports the same run)' },
  'wraparound-near': { check: 'autovacuum', description: "the table's transaction age nears autovacuum_freeze_max_age: an anti-wraparound autovacuum is due, and DDL does not cancel it" },
  // connections
  connections: { check: 'connections', description: 'the share of usable connection slots in use' },
  // ddl-in-progress
  'ddl-lock': { check: 'ddl-in-progress', description: 'a session holds or awaits a DDL-class lock (stronger than RowExclusiveLock) on the table: another schema change or maintenance command' },
  'index-build': { check: 'ddl-in-progress', description: 'CREATE INDEX [CONCURRENTLY] or REINDEX is running on the table' },
  // hot-standby
  'replay-paused': { check: 'hot-standby', description: "a standby's WAL replay is paused (pg_wal_replay_pause)" },
  standby: { check: 'hot-standby', description: "a --replica-url standby's replay state and lag, from its own view" },
  'standby-mismatch': { check: 'hot-standby', description: 'a --replica-url server is not a standby of the checked primary' },
  'standby-reader': { check: 'hot-standby', description: "a session on a standby reads the table: replaying the migration's lock conflicts with it" },
  'standby-reader-hidden': { check: 'hot-standby', description: "a session on a standby touches the table but its details are hidden from the checker's role" },
  'standby-unreachable': { check: 'hot-standby', description: 'a --replica-url standby could not be read' },
  // idle-in-transaction
  'idle-in-transaction': { check: 'idle-in-transaction', description: 'a session idle in transaction holds a conflicting lock on the table' },
  'idle-in-transaction-elsewhere': { check: 'idle-in-transaction', description: 'a session has been idle in transaction for long, not on the table' },
  // invalid-indexes
  'index-being-built': { check: 'invalid-indexes', description: 'an index on the table is invalid only because its build is still running (information)' },
  'invalid-index': { check: 'invalid-indexes', description: 'an index on the table is invalid (a failed CREATE INDEX CONCURRENTLY, or a partitioned index missing a partition)' },
  // load
  'lock-contention': { check: 'load', description: 'sessions of the database waiting on a lock for long: the database is contention-bound, and a migration would queue behind the same holders' },
  'cpu-load': { check: 'load', description: 'sessions on CPU against the server\'s CPU count (--cpus); information when the count is unknown' },
  'load-sample': { check: 'load', description: 'with --sample: average active sessions by wait class over the sample, and the hypothesis they support (information)' },
  'load-hidden': { check: 'load', description: 'sessions of other roles hidden from the checker, so whether they are on CPU is unknown (information)' },
  // locks
  'lock-holder': { check: 'locks', description: 'a session or prepared transaction holds a lock on the table (details.conflicting: whether it conflicts with the migration)' },
  'lock-waiter': { check: 'locks', description: 'a session waits for a lock on the table: a lock queue has formed (chain: its queue up to the root blocker)' },
  // logical-replication
  published: { check: 'logical-replication', description: 'the table is in a publication' },
  'replica-identity-lost': { check: 'logical-replication', description: 'a migration statement removes the replica identity of a published table: the publisher rejects UPDATE and DELETE' },
  'replication-order': { check: 'logical-replication', description: 'a migration statement must run on the publisher and its subscribers in a particular order' },
  subscribed: { check: 'logical-replication', description: 'the table is the destination of a subscription on this server' },
  subscriber: { check: 'logical-replication', description: "a subscriber reading the table's publication, with its lag" },
  'subscriber-stopped': { check: 'logical-replication', description: "a subscriber of the table's publication stopped confirming WAL" },
  'subscriber-unknown': { check: 'logical-replication', description: "a logical slot of the table's publication whose subscriber cannot be identified" },
  'subscription-disabled': { check: 'logical-replication', description: 'a subscription writing into the table is disabled' },
  'subscription-stopped': { check: 'logical-replication', description: 'a subscription writing into the table has stopped applying (an apply error)' },
  // long-running-queries
  'hidden-holder': { check: 'long-running-queries', description: "a session holds or awaits a conflicting lock on the table, but the checker's role cannot see it (grant pg_monitor)" },
  'long-query': { check: 'long-running-queries', description: 'a statement holding or awaiting a conflicting lock on the table has run long' },
  'long-query-elsewhere': { check: 'long-running-queries', description: 'a statement elsewhere in the server has run long (it holds a snapshot)' },
  // migration-risk (the analysis of check --migration)
  statement: { check: 'migration-risk', description: 'one migration statement: the locks it takes and for how long (information)' },
  rewrite: { check: 'migration-risk', description: 'a statement rewrites the table under a lock that blocks writes' },
  'scan-under-lock': { check: 'migration-risk', description: 'a statement reads every row of the table under a lock that blocks writes' },
  'concurrently-in-transaction': { check: 'migration-risk', description: 'CREATE/DROP INDEX CONCURRENTLY (or another statement that cannot) runs inside a transaction block' },
  'lock-timeout-missing': { check: 'migration-risk', description: 'a write-blocking lock is taken without a lock_timeout set first' },
  'lock-timeout-inherited': { check: 'migration-risk', description: "a write-blocking lock no SET lock_timeout in the file covers relies on the connecting role's (or database's) lock_timeout, or run's (information)" },
  'avoidable-strong-lock': { check: 'migration-risk', description: 'a statement takes a stronger lock than a known safe sequence needs' },
  'fails-on-existing-rows': { check: 'migration-risk', description: 'a statement fails if existing rows violate it (NOT NULL, CHECK, UNIQUE without proof)' },
  'unknown-statement': { check: 'migration-risk', description: 'a statement pgpreflight cannot judge from its text (a DO block that builds its SQL, psql \\gexec): the gate fails closed; pgpreflight trace shows what it does' },
  trace: { check: 'migration-risk', description: 'with --trace: which statements were judged by what they did on a throwaway server, and which from their text (information)' },
  skipped: { check: 'migration-risk', description: 'part of a migration file not given to the parser (COPY data, a psql meta-command): named, not judged (information)' },
  // old-snapshots
  'old-snapshot': { check: 'old-snapshots', description: 'a transaction holds an old snapshot (CREATE INDEX CONCURRENTLY waits for it; it holds back vacuum)' },
  // prepared-transactions
  'prepared-transaction': { check: 'prepared-transactions', description: 'a prepared transaction is open in the server' },
  'prepared-transaction-lock': { check: 'prepared-transactions', description: 'a prepared transaction holds a conflicting lock on the table' },
  // replication-lag
  replica: { check: 'replication-lag', description: "a streaming replica's replay lag" },
  'replica-hidden': { check: 'replication-lag', description: "a replica's state and lag are hidden from the checker's role" },
  'inactive-slot': { check: 'replication-lag', description: 'an inactive replication slot retains WAL' },
  // table-size
  'table-size': { check: 'table-size', description: "the table's estimated rows and total size" },
  'never-analyzed': { check: 'table-size', description: 'the table has no statistics: its size is unknown' },
  // timeouts
  'lock-timeout': { check: 'timeouts', description: "the lock_timeout the migration's role gets (0: it waits forever and everything queues behind it)" },
  'idle-timeout-off': { check: 'timeouts', description: 'roles with sessions on the table have no idle_in_transaction_session_timeout' },
  'idle-timeout-unknown': { check: 'timeouts', description: "a role's idle_in_transaction_session_timeout could not be read" },
  // traffic
  traffic: { check: 'traffic', description: 'queries per second on the table, and how many would queue during one lock wait' },
  'traffic-unknown': { check: 'traffic', description: 'the table has no activity counters' },
} as const satisfies Record<string, FindingKind>;

export type FindingKindName = keyof typeof FINDING_KINDS;

export function isKnownFindingKind(kind: string): kind is FindingKindName {
  return Object.hasOwn(FINDING_KINDS, kind);
}
