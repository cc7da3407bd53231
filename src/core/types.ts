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
}

/** A table the gate inspects, as given on the command line or found in a migration. */
export interface TableRequest {
  input: string;
  /** The canonical quoted name from the identifier parser. */
  canonical: string;
  lockMode: LockMode;
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

export interface Remediation {
  sql: string;
  note: string;
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

export interface Report {
  version: 1;
  verdict: Status;
  /** The server inspected; `address` is user@host:port/database as connected to, never with a password. Null when none was (--offline). */
  server: { version: string; versionNum: number; database: string; user: string; canReadAllStats: boolean; address: string } | null;
  targets: { input: string; name: string; oid: number; lockMode: LockMode; relations: number }[];
  checks: CheckResult[];
  /** Things the reader should know about the run itself (hidden sessions, an untested major). */
  notes: string[];
  /** Set by `check --offline`: only the SQL was read; every live check is listed with status skip (not run). */
  offline?: true;
  durationMs: number;
}
