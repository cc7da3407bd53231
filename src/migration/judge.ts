// The migration as PostgreSQL runs it: statement after statement in one session per file
// (or one for the whole run), with the transactions the file writes and the one its runner
// adds. Locks accumulate until COMMIT or ROLLBACK, so a rewrite, a scan or a backfill is
// judged under every lock held at that point, not only its own. SET LOCAL ends at COMMIT.
// History files update the schema and are not judged.
import type { LockMode } from '../core/lock-modes.js';
import { LOCK_MODES, strongerLock } from '../core/lock-modes.js';
import type { LockedRelation } from './ast.js';
import { classify, type Classified, type Work } from './classify.js';
import { LOCK_RULES, type LockRuleKind, type StatementKind } from './lock-table.js';
import type { ParsedStatement, Skipped } from './parse.js';
import type { Runner } from './runners.js';
import type { Schema } from './schema.js';
import type { Knowable } from './types.js';

export type DangerKind =
  | 'rewrite'
  | 'scan-under-lock'
  | 'concurrently-in-transaction'
  | 'lock-timeout-missing'
  | 'avoidable-strong-lock'
  | 'fails-on-existing-rows'
  | 'unknown-statement';

export interface Danger {
  kind: DangerKind;
  /** What goes wrong, one sentence. */
  message: string;
  /** The safe sequence for this statement, as advice (remediation.ts turns it into SQL). */
  safe?: string;
  /** The danger grows with the table: the live check compares it with the size thresholds. */
  sizeDependent: boolean;
  /** The relations whose size sets how long it lasts (canonical names). */
  relations?: string[];
  /** The write-blocking locks held while it runs. */
  blocked?: LockedRelation[];
  /** Why the work is assumed, not known (the schema was unknown). */
  assumed?: string | null;
  /** The lock-table row behind it. */
  rule?: LockRuleKind | null;
}

export type TransactionKind = 'explicit' | 'runner' | 'implicit';

/** What a traced run observed for one statement; replaces the static facts (see docs/migration-analysis.md). */
export interface TracedFacts {
  /** Every lock the statement's backend held after it ran. */
  locks: LockedRelation[];
  /** Canonical names of relations given new storage (relfilenode changed). */
  rewritten: string[];
  /** Canonical names of relations read in full (sequential scans counted). */
  scanned: string[];
}

export type Overlay = (statement: ParsedStatement, position: { file: string; index: number }) => TracedFacts | undefined;

export interface MigrationStatement {
  file: string;
  /** 1-based line and column of the statement's first token, and the line of its last. */
  line: number;
  column: number;
  endLine: number;
  excerpt: string;
  /** The statement as written. */
  sql: string;
  /** Its position among the file's statements (0-based), the key of a trace overlay. */
  index: number;
  /** The parse node's type, e.g. AlterTableStmt. */
  nodeType: string;
  node: Record<string, unknown>;
  /** Lock-table rows this statement matched (one per ALTER TABLE subcommand). */
  kinds: StatementKind[];
  /** The locks it takes itself. */
  relations: LockedRelation[];
  /** Every lock held while it runs: its own and those taken earlier in the same transaction. */
  held: LockedRelation[];
  /** The strongest mode among relations, or null when it locks no existing table. */
  lock: LockMode | null;
  work: Work[];
  rewrites: boolean;
  scansUnderLock: boolean;
  mayRunInTransaction: boolean;
  concurrently: boolean;
  unknown: boolean;
  /** Runs inside a transaction (the file's BEGIN, its runner's, or PostgreSQL's implicit one). */
  inTransactionBlock: boolean;
  transaction: TransactionKind | null;
  /** A non-zero lock_timeout is in effect. */
  lockTimeoutSet: boolean;
  /**
   * The first write-blocking lock on an existing table in its session, covered only by the
   * lock_timeout the session starts with (JudgeOptions.sessionLockTimeout), not by a SET in the file.
   */
  lockTimeoutInherited?: boolean;
  dangers: Danger[];
  /** The safe sequences of the lock-table rows it matched. */
  safe: string[];
  /** What the schema made known (why something is not a danger). */
  notes: string[];
  /** Relations this statement creates. */
  creates: string[];
  /** Tables this statement renames: [old, new] canonical names. */
  renames: [string, string][];
  /** Relations it locks that are new (created earlier in the pending migration, absent from the server). */
  newRelations: string[];
  /** Where its locks and rewrites come from. */
  source: 'static' | 'schema' | 'trace';
}

export interface JudgedFile {
  file: string;
  statements: ParsedStatement[];
  /** Already applied: read for the schema, not judged. */
  history: boolean;
  skipped: Skipped[];
  markers: string[];
  /** The runner skips its transaction for this file (sqlx -- no-transaction, diesel run_in_transaction = false, ...). */
  noTransaction: boolean;
}

export interface JudgeOptions {
  runner: Runner;
  schema: Schema;
  /** Whether a relation is new (no live traffic); default: created earlier by a pending file. */
  isNew?: (canonical: string, createdByPending: boolean) => boolean;
  overlay?: Overlay;
  /**
   * The lock_timeout a new session of the migration starts with, read from the server (the
   * role's and the database's settings, or run's PGOPTIONS); undefined when unknown (offline):
   * then only the file's SETs count.
   */
  sessionLockTimeout?: string;
}

/** Conflicts with RowExclusiveLock: the migration stops writes (and, for AccessExclusive, reads) while it holds it. */
export function blocksWrites(mode: LockMode): boolean {
  return LOCK_MODES.indexOf(mode) >= LOCK_MODES.indexOf('ShareLock');
}

const UTC_ZONES = new Set(['utc', 'etc/utc', 'gmt', 'etc/gmt', 'uct', 'etc/uct', 'zulu', 'etc/zulu', 'universal', 'etc/universal', 'greenwich', 'etc/greenwich', 'z', '+00', '+00:00', '00:00', '0']);

function isUtc(zone: string): boolean {
  return UTC_ZONES.has(zone.trim().toLowerCase().replace(/^'|'$/g, ''));
}

function timeoutOn(value: string | null): boolean {
  if (value === null) return false;
  return !/^\s*0+(\.0*)?\s*(ms|s|min|h|d|us)?\s*$/i.test(value);
}

interface Setting {
  session: string | null | undefined;
  local: string | null | undefined;
}

interface Transaction {
  kind: TransactionKind;
  held: Map<string, { rel: LockedRelation; line: number }>;
}

function excerptOf(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

/** Quick but AccessExclusive, with a variant that takes less: worth a warning on any table. */
const AVOIDABLE_STRONG_LOCKS: readonly StatementKind[] = ['drop-index', 'detach-partition', 'create-partition'];

function fromTrace(classified: Classified, traced: TracedFacts): Classified {
  const byName = new Map(classified.relations.map((r) => [r.canonical, r]));
  const relations = traced.locks.map((l) => ({ ...(byName.get(l.canonical) ?? l), mode: l.mode }));
  const relationOf = (canonical: string): LockedRelation => relations.find((r) => r.canonical === canonical) ?? byName.get(canonical) ?? { ...(traced.locks[0] as LockedRelation), canonical, display: canonical, name: canonical };
  const work: Work[] = [
    ...traced.rewritten.map((c) => ({ kind: 'rewrite' as const, relation: relationOf(c), what: `traced: ${relationOf(c).display} was rewritten (new relfilenode)`, rule: classified.work.find((w) => w.relation.canonical === c)?.rule ?? null, assumed: null })),
    ...traced.scanned.filter((c) => !traced.rewritten.includes(c)).map((c) => ({ kind: 'scan' as const, relation: relationOf(c), what: `traced: every row of ${relationOf(c).display} was read`, rule: classified.work.find((w) => w.relation.canonical === c)?.rule ?? null, assumed: null })),
  ];
  return { ...classified, relations, work, unknown: null };
}

/** Statements PostgreSQL refuses inside a transaction block, by their parse node alone. */
export function cannotRunInTransaction(nodeType: string, node: Record<string, unknown>): boolean {
  const concurrently = (params: unknown): boolean =>
    Array.isArray(params) && params.some((p) => (p as { DefElem?: { defname?: string; arg?: unknown } }).DefElem?.defname === 'concurrently' && !/^(false|off|no|0)$/i.test(String((((p as { DefElem: { arg?: { String?: { sval?: string } } } }).DefElem.arg?.String?.sval) ?? 'true'))));
  switch (nodeType) {
    case 'IndexStmt':
    case 'DropStmt':
      return node.concurrent === true;
    case 'ReindexStmt':
      return concurrently(node.params);
    case 'VacuumStmt':
      return node.is_vacuumcmd === true;
    case 'AlterTableStmt':
      return JSON.stringify(node.cmds ?? null).includes('"concurrent":true');
    case 'CreatedbStmt':
    case 'DropdbStmt':
    case 'AlterSystemStmt':
    case 'CreateTableSpaceStmt':
    case 'DropTableSpaceStmt':
      return true;
    default:
      return false;
  }
}

/** Judges every pending statement; history statements only change the schema. */
export function judge(files: readonly JudgedFile[], options: JudgeOptions): MigrationStatement[] {
  const { runner, schema } = options;
  const createdByPending = new Set<string>();
  // A renamed table keeps its data and traffic: its new name is as new as its old one.
  const renamedFrom = new Map<string, string>();
  const original = (canonical: string): string => {
    let name = canonical;
    for (let hops = 0; renamedFrom.has(name) && hops < 32; hops++) name = renamedFrom.get(name) as string;
    return name;
  };
  const isNew = (canonical: string): boolean => {
    const name = original(canonical);
    return options.isNew ? options.isNew(name, createdByPending.has(name)) : createdByPending.has(name);
  };
  const out: MigrationStatement[] = [];
  let lockTimeout: Setting = { session: undefined, local: undefined };
  let timezone: Setting = { session: undefined, local: undefined };
  let txn: Transaction | null = null;
  const serverUtc: Knowable<boolean> = schema.serverTimeZone === null ? 'unknown' : isUtc(schema.serverTimeZone);
  const endTransaction = (): void => {
    txn = null;
    lockTimeout = { ...lockTimeout, local: undefined };
    timezone = { ...timezone, local: undefined };
  };
  for (const [fileIndex, file] of files.entries()) {
    const wholeRun = runner.mode === 'run';
    const optedOut = file.noTransaction || (runner.optOut !== undefined && file.markers.some((m) => runner.optOut?.test(m)));
    const detected = runner.detectsNonTransactional === true && file.statements.some((s) => cannotRunInTransaction(s.nodeType, s.node));
    const mode = optedOut || detected ? 'none' : runner.mode;
    // Each file is its own session (settings start over), unless the runner runs them all in one.
    if (!wholeRun || fileIndex === 0) {
      lockTimeout = { session: undefined, local: undefined };
      timezone = { session: undefined, local: undefined };
      txn = null;
    }
    const implicitBlock = mode === 'implicit' && file.statements.length > 1;
    const open = (): Transaction | null => {
      if (mode === 'transaction' || (mode === 'run' && !file.history)) return { kind: 'runner', held: new Map() };
      if (implicitBlock) return { kind: 'implicit', held: new Map() };
      return null;
    };
    if (!wholeRun || txn === null) txn = open();
    let timeoutWarned = false;
    let inheritedNoted = false;
    for (const [index, statement] of file.statements.entries()) {
      const utc: Knowable<boolean> = (() => {
        const zone = timezone.local ?? timezone.session;
        if (zone === null) return serverUtc;
        if (zone === undefined) return serverUtc;
        return isUtc(zone);
      })();
      let facts = classify(statement.nodeType, statement.node, { schema, history: file.history, utc });
      if (statement.gexec && !file.history) facts = { ...facts, unknown: 'psql \\gexec runs the rows this query returns as SQL statements, which the file does not show' };
      const traced = file.history ? undefined : options.overlay?.(statement, { file: file.file, index });
      if (traced) facts = fromTrace(facts, traced);

      // Transaction control and settings.
      if (statement.nodeType === 'TransactionStmt') {
        const kind = String(statement.node.kind ?? '');
        if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') {
          if (txn === null) txn = { kind: 'explicit', held: new Map() };
          else if ((txn as Transaction).kind === 'implicit') (txn as Transaction).kind = 'explicit';
        } else if (['TRANS_STMT_COMMIT', 'TRANS_STMT_ROLLBACK', 'TRANS_STMT_PREPARE', 'TRANS_STMT_COMMIT_PREPARED', 'TRANS_STMT_ROLLBACK_PREPARED'].includes(kind)) {
          endTransaction();
          // The rest of a one-query file is a new implicit transaction.
          if (implicitBlock && index < file.statements.length - 1) txn = { kind: 'implicit', held: new Map() };
        }
      }
      for (const change of facts.settings) {
        const target = change.name === 'lock_timeout' ? lockTimeout : change.name === 'timezone' ? timezone : null;
        if (!target) continue;
        // SET LOCAL outside a transaction does nothing (PostgreSQL warns and ignores it).
        if (change.local) {
          if (txn !== null) target.local = change.value;
        } else {
          target.session = change.value;
          target.local = undefined;
        }
      }
      for (const name of facts.creates) if (!file.history) createdByPending.add(name);
      for (const [from, to] of facts.renames) if (!file.history) renamedFrom.set(to, from);
      if (file.history) continue;

      // Locks held while it runs.
      const current: Transaction | null = txn;
      if (current) {
        for (const rel of facts.relations) {
          const seen = current.held.get(rel.canonical);
          current.held.set(rel.canonical, seen ? { rel: { ...seen.rel, mode: strongerLock(seen.rel.mode, rel.mode) }, line: LOCK_MODES.indexOf(rel.mode) > LOCK_MODES.indexOf(seen.rel.mode) ? statement.line : seen.line } : { rel: { ...rel }, line: statement.line });
        }
      }
      const heldEntries = current ? [...current.held.values()] : facts.relations.map((rel) => ({ rel, line: statement.line }));
      const newRelations = facts.relations.filter((r) => isNew(r.canonical)).map((r) => r.canonical);
      // RESET (null) goes back to what the session started with, as no SET at all does.
      const fileTimeout = lockTimeout.local ?? lockTimeout.session ?? null;
      const lockTimeoutSet = timeoutOn(fileTimeout ?? options.sessionLockTimeout ?? null);
      const dangers: Danger[] = [];
      const blockers = heldEntries.filter((h) => blocksWrites(h.rel.mode) && !isNew(h.rel.canonical));
      const seenWork = new Set<string>();
      for (const work of facts.work) {
        if (isNew(work.relation.canonical) || blockers.length === 0) continue;
        const key = `${work.kind}\u0000${work.relation.canonical}`;
        if (seenWork.has(key)) continue;
        seenWork.add(key);
        const strongest = blockers.reduce((a, b) => (LOCK_MODES.indexOf(b.rel.mode) > LOCK_MODES.indexOf(a.rel.mode) ? b : a));
        const held = blockers.map((h) => `${h.rel.mode} on ${h.rel.display}${h.line !== statement.line ? ` (taken at line ${h.line})` : ''}`).join(', ');
        const rule = work.rule ? LOCK_RULES[work.rule] : undefined;
        dangers.push({
          kind: work.kind === 'rewrite' ? 'rewrite' : 'scan-under-lock',
          message: `${work.what} while holding ${held}${work.assumed ? ` (assumed: ${work.assumed})` : ''}`,
          ...(rule && 'safe' in rule && rule.safe ? { safe: rule.safe } : strongest.line !== statement.line ? { safe: `commit the statement that took ${strongest.rel.mode} on ${strongest.rel.display} (line ${strongest.line}) first, then run this one in batches outside that transaction` } : {}),
          sizeDependent: true,
          relations: [work.relation.canonical],
          blocked: blockers.map((h) => h.rel),
          assumed: work.assumed,
          rule: work.rule,
        });
      }
      const inTransaction = current !== null;
      if (!facts.mayRunInTransaction && inTransaction) {
        const rule = facts.kinds.map((k) => (k in LOCK_RULES ? LOCK_RULES[k as LockRuleKind] : undefined)).find((r) => r && !r.inTransaction);
        const why = (current as Transaction).kind === 'explicit' ? 'this one is inside BEGIN' : (current as Transaction).kind === 'implicit' ? `${runner.name} sends the file as one query string, which PostgreSQL runs as one implicit transaction` : `${runner.name} runs each file in a transaction`;
        dangers.push({ kind: 'concurrently-in-transaction', message: `${rule?.statement ?? statement.nodeType} cannot run inside a transaction block (it errors out), and ${why}`, safe: runner.outsideTransaction, sizeDependent: false });
      }
      if (facts.failsOnRows && !isNew(facts.failsOnRows.relation.canonical)) {
        dangers.push({ kind: 'fails-on-existing-rows', message: facts.failsOnRows.message, safe: 'add the column nullable (or with a constant DEFAULT), backfill, then add NOT NULL via CHECK ... NOT VALID + VALIDATE', sizeDependent: false, relations: [facts.failsOnRows.relation.canonical] });
      }
      const worked = facts.relations.filter((r) => !isNew(r.canonical));
      for (const kind of facts.kinds) {
        if (worked.length === 0 || !AVOIDABLE_STRONG_LOCKS.includes(kind)) continue;
        const row = LOCK_RULES[kind as LockRuleKind];
        dangers.push({ kind: 'avoidable-strong-lock', message: `${row.statement} takes ${row.lock}, which has a lighter alternative`, ...('safe' in row && row.safe ? { safe: row.safe } : {}), sizeDependent: false });
      }
      if (facts.unknown !== null) {
        dangers.push({ kind: 'unknown-statement', message: `${facts.unknown}: pgpreflight cannot judge it from the text, so the gate fails closed. Run \`pgpreflight trace --migration ${file.file}\` to see what it locks and rewrites on a throwaway server`, sizeDependent: false });
      }
      // Once per session: the first write-blocking lock on an existing table taken with no lock_timeout in effect.
      const strongOnExisting = facts.relations.some((r) => blocksWrites(r.mode) && !isNew(r.canonical));
      // Relying on the role's (or database's) setting is noted once per session, where the warning would be.
      const lockTimeoutInherited = !inheritedNoted && strongOnExisting && lockTimeoutSet && fileTimeout === null;
      if (lockTimeoutInherited) inheritedNoted = true;
      if (!timeoutWarned && !lockTimeoutSet && strongOnExisting) {
        timeoutWarned = true;
        {
          const strong = facts.relations.find((r) => blocksWrites(r.mode) && !isNew(r.canonical)) as LockedRelation;
          dangers.push({
            kind: 'lock-timeout-missing',
            message: `no lock_timeout is set before this ${strong.mode}: if it queues behind a long transaction, every query on ${strong.display} queues behind it`,
            safe: "SET lock_timeout = '5s'; at the top of the migration, and retry on timeout",
            sizeDependent: false,
          });
        }
      }
      const rows = facts.kinds.filter((k): k is LockRuleKind => k in LOCK_RULES).map((k) => LOCK_RULES[k]);
      out.push({
        file: statement.file,
        line: statement.line,
        column: statement.column,
        endLine: statement.endLine,
        excerpt: excerptOf(statement.sql),
        sql: statement.sql,
        index,
        nodeType: statement.nodeType,
        node: statement.node,
        kinds: facts.kinds,
        relations: facts.relations,
        held: heldEntries.map((h) => h.rel),
        lock: facts.relations.reduce<LockMode | null>((strongest, r) => (strongest === null ? r.mode : strongerLock(strongest, r.mode)), null),
        work: facts.work,
        rewrites: facts.work.some((w) => w.kind === 'rewrite'),
        scansUnderLock: facts.work.some((w) => w.kind === 'scan' && blocksWrites(w.relation.mode)),
        mayRunInTransaction: facts.mayRunInTransaction,
        concurrently: facts.concurrently,
        unknown: facts.unknown !== null,
        inTransactionBlock: inTransaction && statement.nodeType !== 'TransactionStmt',
        transaction: current ? (current as Transaction).kind : null,
        lockTimeoutSet,
        ...(lockTimeoutInherited ? { lockTimeoutInherited } : {}),
        dangers,
        safe: [...new Set(rows.flatMap((r): string[] => ('safe' in r && typeof r.safe === 'string' ? [r.safe] : [])))],
        notes: facts.notes,
        creates: facts.creates,
        renames: facts.renames,
        newRelations,
        source: traced ? 'trace' : schema.fromServer ? 'schema' : 'static',
      });
    }
    // The runner commits at the end of its file; an explicit BEGIN left open is committed by
    // PostgreSQL when the session ends (psql) or the next file's runner would nest it.
    if (!wholeRun) endTransaction();
  }
  return out;
}
