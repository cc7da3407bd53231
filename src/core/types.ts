import type { LockMode } from './lock-modes.js';

/** Ordered from best to worst: a skipped check does not outweigh one that passed. */
export const STATUSES = ['skip', 'pass', 'warn', 'fail', 'error'] as const;
export type Status = (typeof STATUSES)[number];

/** The verdict: the worst status; `skip` only when every check was skipped (or none ran). */
export function worstStatus(statuses: Iterable<Status>): Status {
  let worst: Status = 'skip';
  for (const status of statuses) if (STATUSES.indexOf(status) > STATUSES.indexOf(worst)) worst = status;
  return worst;
}

export interface ServerInfo {
  versionNum: number;
  version: string;
  inRecovery: boolean;
  currentUser: string;
  database: string;
  isSuperuser: boolean;
  /** Member of pg_monitor or pg_read_all_stats: sees every session's state and query. */
  canReadAllStats: boolean;
  backendPid: number;
  blockSize: number;
  takenAt: string;
}

export type RelationKind = 'table' | 'partition' | 'child' | 'index' | 'toast';

export interface TargetRelation {
  oid: number;
  name: string;
  kind: RelationKind;
  relkind: string;
  pages: number;
  /** -1 when never analyzed or vacuumed. */
  tuples: number;
  /** The cumulative statistics of a table, TOAST table or materialized view; null for indexes and partitioned parents. */
  stats: RelationStats | null;
}

/** Counters behind pg_stat_all_tables, since the statistics began (or were last reset). */
export interface RelationStats {
  live: number;
  dead: number;
  inserted: number;
  updated: number;
  deleted: number;
  /** pg_stat_have_stats (15+): the statistics system has an entry for it; null on 14, where this cannot be asked. */
  tracked: boolean | null;
}

/** A table the gate inspects, as given on the command line or found in a migration. */
export interface TableRequest {
  input: string;
  /** The canonical quoted name from the identifier parser. */
  canonical: string;
  lockMode: LockMode;
  /** The migration creates this table: gate it when the server already has it, else it is new (nothing to gate). */
  ifExists?: boolean;
  /** Read from a migration (not --table): a view or sequence it names is not gated rather than refused. */
  fromMigration?: boolean;
}

export interface Target {
  /** What the user typed. */
  input: string;
  oid: number;
  schema: string;
  name: string;
  qualifiedName: string;
  relkind: string;
  /** The mode the migration will request on this table. */
  lockMode: LockMode;
  /** The table, its partitions and inheritance children (all levels), their indexes and TOAST tables. */
  relations: TargetRelation[];
  /** This database's cumulative statistics were reset at some point (pg_stat_database.stats_reset; always set on 14). */
  statsReset: boolean;
}

export interface Session {
  pid: number;
  leaderPid: number | null;
  database: string | null;
  user: string | null;
  application: string | null;
  client: string | null;
  backendType: string | null;
  /** null when the checker's role may not see it (see hidden). */
  state: string | null;
  query: string | null;
  waitEventType: string | null;
  waitEvent: string | null;
  xactAgeSeconds: number | null;
  queryAgeSeconds: number | null;
  stateAgeSeconds: number | null;
  backendXid: string | null;
  backendXmin: string | null;
  /** age(backend_xmin): how many transactions old the session's snapshot is. */
  xminAge: number | null;
  /** true when pg_stat_activity shows `<insufficient privilege>` for this session. */
  hidden: boolean;
}

export interface LockRow {
  /** null for a prepared transaction's locks. */
  pid: number | null;
  virtualTransaction: string;
  lockType: string;
  relation: number | null;
  transactionId: string | null;
  mode: string;
  granted: boolean;
  waitSeconds: number | null;
  /** pg_blocking_pids() of a waiting lock; 0 stands for a prepared transaction. */
  blockingPids: number[];
}

export interface PreparedTransaction {
  gid: string;
  owner: string;
  database: string;
  transactionId: string;
  ageSeconds: number;
  /** virtualtransaction of its locks in pg_locks, where found. */
  virtualTransaction: string | null;
}

/** A session on a standby that holds or awaits a lock on a target relation. */
export interface ReplicaSession {
  pid: number;
  relation: number;
  mode: string;
  granted: boolean;
  user: string | null;
  application: string | null;
  client: string | null;
  backendType: string | null;
  state: string | null;
  query: string | null;
  xactAgeSeconds: number | null;
  queryAgeSeconds: number | null;
  /** true when the standby hides this session's details from the checking role. */
  hidden: boolean;
}

/** What a standby said about itself (read-only, from its own view). */
export interface ReplicaInfo {
  version: string;
  versionNum: number;
  database: string;
  inRecovery: boolean;
  /** pg_control_system(): the same on a primary and every physical standby of it. */
  systemIdentifier: string | null;
  canReadAllStats: boolean;
  /** -1: replay waits for conflicting queries as long as they run. */
  maxStandbyStreamingDelayMs: number;
  maxStandbyArchiveDelayMs: number;
  hotStandbyFeedback: boolean;
  /** pg_get_wal_replay_pause_state(): 'not paused', 'pause requested' or 'paused'. */
  pauseState: string | null;
  /** A WAL receiver is streaming (so max_standby_streaming_delay applies); null when hidden. */
  streaming: boolean | null;
  /** Received but not yet replayed WAL. */
  unreplayedBytes: number | null;
  /** Since the last replayed commit (not a lag on its own: an idle primary commits nothing). */
  lastReplayAgeSeconds: number | null;
}

/** One --replica-url look, taken after the primary's snapshot (src/replication/replica-snapshot.ts). */
export interface ReplicaSnapshot {
  /** user@host:port/database: never the password. */
  display: string;
  /** One line for people when the standby could not be read; info is then null. */
  error: string | null;
  info: ReplicaInfo | null;
  sessions: ReplicaSession[];
}

export interface Snapshot {
  server: ServerInfo;
  targets: Target[];
  sessions: Session[];
  /** Locks on target relations, every waiting lock, and prepared transactions' xid locks. */
  locks: LockRow[];
  prepared: PreparedTransaction[];
  /** Client sessions connected to this database, other than the checker's own (another role's count too). */
  clientSessions: number;
  /** Rows of the extra queries that selected checks declared, by query name. */
  extra: Record<string, Record<string, unknown>[]>;
  /** The --replica-url standbys, when given and a selected check reads them. */
  replicas?: ReplicaSnapshot[];
}

export type Severity = 'info' | 'warn' | 'fail' | 'error';

/** What ends a problem: `sql` is always runnable SQL (comments allowed), `note` the advice in words. */
export interface Remediation {
  sql: string;
  note: string;
}

/** A lock a root blocker holds that sessions queue for. */
export interface HeldLock {
  /** relation, transactionid (row locks), tuple, ... */
  lockType: string;
  /** Qualified name of a relation lock; null for other lock types. */
  relation: string | null;
  /** The mode held; null when the look did not read it (a relation outside --table): then it is only known to conflict. */
  mode: string | null;
}

/** Sessions queued behind a root blocker that look alike (same query, application, user, state and awaited lock, at the same depth), collapsed into one line. */
export interface WaiterGroup {
  count: number;
  pids: number[];
  /** The sessions they queue behind directly (0 stands for a prepared transaction). */
  behind: number[];
  /** 1: directly behind the root; 2: behind a session that is itself waiting; ... */
  depth: number;
  user: string | null;
  application: string | null;
  state: string | null;
  query: string | null;
  waitingFor: { mode: string; lockType: string; relation: string | null } | null;
  oldestWaitSeconds: number | null;
  /** Distinct sessions queued behind these, in turn. */
  blocking: number;
  /** Ids of the checks with a finding (worse than info) about one of these sessions. */
  flaggedBy: string[];
}

/**
 * A root blocker: a session (or prepared transaction) that holds what others queue for and
 * waits for nothing itself, with everything queued behind it. Computed once from the
 * blocking tree (src/incident/root-causes.ts) for the gate's report and for `locks`.
 */
export interface RootCause {
  kind: 'session' | 'prepared';
  /** null for a prepared transaction. */
  pid: number | null;
  gid: string | null;
  user: string | null;
  application: string | null;
  client: string | null;
  backendType: string | null;
  state: string | null;
  /** The checker's role may not see this session's details (grant pg_monitor). */
  hidden: boolean;
  /** How long its transaction (or the prepared transaction) has been open. */
  xactAgeSeconds: number | null;
  /** Its current query, or the last one when idle (an excerpt). */
  query: string | null;
  holds: HeldLock[];
  /** Distinct sessions queued behind it, directly or down the queue. */
  waiting: number;
  oldestWaitSeconds: number | null;
  /** The one fix; null when there is none to run (a hidden session, a replication process). */
  remediation: Remediation | null;
  /** Ids of the checks with a finding (worse than info) about this session. */
  flaggedBy: string[];
  waiters: WaiterGroup[];
}

export interface Finding {
  /** Stable machine-readable kind, e.g. `lock-holder`, `lock-waiter`, `idle-in-transaction`. */
  kind: string;
  severity: Severity;
  message: string;
  target?: string;
  pid?: number | null;
  user?: string | null;
  application?: string | null;
  client?: string | null;
  state?: string | null;
  ageSeconds?: number | null;
  lockMode?: string;
  granted?: boolean;
  relation?: string;
  query?: string | null;
  blockedBy?: number[];
  /** A waiter's queue up to its root blocker, waiter first: [waiter, blocker, ..., root] (0: a prepared transaction). */
  chain?: number[];
  remediation?: Remediation;
  details?: Record<string, string | number | boolean | null>;
  /** The migration file and 1-based line the finding is about (check --migration). */
  file?: string;
  line?: number;
}

export interface CheckResult {
  id: string;
  title: string;
  status: Status;
  summary: string;
  findings: Finding[];
}

/** One database's result; the JSON document (GateReport, src/gate/gate.ts) carries one per database. */
export interface Report {
  verdict: Status;
  /** The server inspected; `address` is user@host:port/database as connected to, never with a password. Null when none was (--offline). */
  server: { version: string; versionNum: number; database: string; user: string; canReadAllStats: boolean; address: string } | null;
  targets: { input: string; name: string; oid: number; lockMode: LockMode; relations: number }[];
  checks: CheckResult[];
  /** The root blockers of the queues on the targets, each with the sessions queued behind it (empty when nobody waits). */
  rootCauses: RootCause[];
  /** Things the reader should know about the run itself (hidden sessions, an untested major). */
  notes: string[];
  /** Set by `check --offline`: only the SQL was read; every live check is listed with status skip (not run). */
  offline?: true;
  durationMs: number;
}
