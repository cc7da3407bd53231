// `node dist/bench/histories.js <migrations dir> [--runner <name>] [--limit <n>]`: a real
// project's whole migration history, replayed on a throwaway server. Before each file is
// applied, the gate judges it on the server's schema as it is at that point (check
// --migration, online, with every size threshold at 0 so each rewrite or scan it claims
// shows); then the file is applied the way its runner does it, and what PostgreSQL actually
// did is read back: which tables got new storage (relfilenode) and which were read in full
// (pg_stat_xact_user_tables.seq_scan). A claimed rewrite or scan of a table that already
// existed and that PostgreSQL did not rewrite or read is a provably wrong blocking finding.
// The histories are not part of this repository (fetch them yourself: LemmyNet/lemmy
// migrations/, ory/kratos persistence/sql/migrations/sql/).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { CHECKS } from '../checks/index.js';
import { startCluster } from '../src/clusters/cluster.js';
import { resolveConnection } from '../src/core/connection.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce } from '../src/gate/runner.js';
import { assessMigration, sizeOfTarget, targetFor } from '../src/migration/assess.js';
import { listMigrationDirectory, readMigrationInput } from '../src/migration/input.js';
import { analyzeSources, judgeOnServer, mergeTableRequests } from '../src/migration/index.js';
import { MIGRATION_SCHEMA_QUERY, schemaFromServer } from '../src/migration/server-schema.js';

interface Storage {
  heap: Map<string, string>;
  scans: Map<string, number>;
}

async function storage(client: pg.Client): Promise<Storage> {
  const { rows } = await client.query<{ name: string; node: string; scans: string | null }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.relfilenode::text AS node, s.seq_scan::text AS scans
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_stat_xact_user_tables s ON s.relid = c.oid
      WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
  );
  return { heap: new Map(rows.map((r) => [r.name, r.node])), scans: new Map(rows.map((r) => [r.name, Number(r.scans ?? 0)])) };
}

export interface HistoryResult {
  files: number;
  statements: number;
  applied: number;
  failedToApply: string[];
  blockingFindings: number;
  /** Rewrite claims, and those PostgreSQL contradicted (the relfilenode did not change). */
  rewriteClaims: number;
  /** Scans claimed by a DDL statement (validation, index build), and those contradicted on a table that had rows. */
  ddlScanClaims: number;
  /** A backfill, full read or INSERT ... SELECT under a write-blocking lock: how long depends on the data, which a replay on empty tables cannot show. */
  dmlUnderLockClaims: number;
  provablyWrong: string[];
  unknown: number;
  /** Files that write every row of a table while holding ACCESS EXCLUSIVE on that same table (issue 17's count). */
  filesBackfillingUnderTheirOwnLock: string[];
  byKind: Record<string, number>;
}

export async function replayHistory(dir: string, runner: string, limit = Number.POSITIVE_INFINITY): Promise<HistoryResult> {
  const { files } = await listMigrationDirectory(dir);
  const cluster = await startCluster({ settings: { autovacuum: false } });
  const result: HistoryResult = { files: 0, statements: 0, applied: 0, failedToApply: [], blockingFindings: 0, rewriteClaims: 0, ddlScanClaims: 0, dmlUnderLockClaims: 0, provablyWrong: [], unknown: 0, filesBackfillingUnderTheirOwnLock: [], byKind: {} };
  const client = await cluster.connect({ applicationName: 'history-replay' });
  try {
    await client.query("SET timezone = 'UTC'");
    for (const file of files.slice(0, limit)) {
      result.files += 1;
      const text = readFileSync(file, 'utf8');
      // As the CLI reads it: the per-file transaction markers (diesel's metadata.toml, pop's .autocommit.) included.
      const analysis = await analyzeSources((await readMigrationInput([file])).files, { runner });
      result.statements += analysis.statements.length;
      const checks = CHECKS.filter((c) => c.id === 'migration-risk');
      const tables = mergeTableRequests([], analysis.tables);
      let run;
      try {
        run = await runOnce({ connection: resolveConnection(cluster.url(), {}), tables, checks, options: resolveCheckOptions(checks, { 'rewrite-rows-fail': '0', 'rewrite-size-fail': '0' }), timeoutMs: 30_000, migration: analysis });
      } catch (error) {
        // A table the file names that the server does not have: the history is out of order or uses another layout.
        result.failedToApply.push(`${file}: gate: ${(error as Error).message.split('\n')[0]}`);
        run = null;
      }
      const statements = run ? judgeOnServer(analysis, schemaFromServer(run.snapshot.extra[MIGRATION_SCHEMA_QUERY]?.[0], run.snapshot.targets), run.snapshot.targets) : analysis.statements;
      const findings = run ? assessMigration(analysis, (c) => { const t = targetFor(run.snapshot.targets, c); return t ? sizeOfTarget(t, run.snapshot.server.blockSize) : null; }, { maxRows: 0, maxSize: 0 }, statements).findings : [];
      for (const f of findings.filter((x) => x.severity === 'fail')) {
        result.blockingFindings += 1;
        result.byKind[f.kind] = (result.byKind[f.kind] ?? 0) + 1;
      }
      // Apply it as its runner does (diesel and most tools: the file in one transaction), reading what PostgreSQL did before COMMIT.
      const before = await storage(client);
      const claimed = [...new Set(statements.flatMap((s) => s.dangers.flatMap((d) => d.relations ?? [])))];
      const withRows = new Set<string>();
      for (const canonical of claimed) {
        const target = run?.snapshot.targets.find((t) => targetFor([t], canonical));
        if (!target) continue;
        const { rows } = await client.query(`SELECT EXISTS (SELECT 1 FROM ${target.qualifiedName}) AS any`).catch(() => ({ rows: [{ any: false }] }));
        if ((rows[0] as { any?: boolean } | undefined)?.any === true) withRows.add(target.qualifiedName);
      }
      const transactional = analysis.runner.mode !== 'none' && !analysis.prepared.some((f) => f.noTransaction);
      try {
        if (transactional) await client.query('BEGIN');
        await client.query(text);
        const after = await storage(client);
        if (transactional) await client.query('COMMIT');
        result.applied += 1;
        let backfillsOwnLock = false;
        for (const statement of statements) {
          for (const danger of statement.dangers) {
            if (danger.kind === 'unknown-statement') result.unknown += 1;
            if (danger.kind !== 'rewrite' && danger.kind !== 'scan-under-lock') continue;
            const dml = danger.rule === null || danger.rule === undefined;
            if (danger.kind === 'rewrite') result.rewriteClaims += 1;
            else if (dml) result.dmlUnderLockClaims += 1;
            else result.ddlScanClaims += 1;
            if (dml && ['UpdateStmt', 'DeleteStmt', 'InsertStmt'].includes(statement.nodeType)) {
              const target = statement.relations.find((r) => r.role === 'table')?.canonical;
              if (target && statement.held.some((h) => h.canonical === target && h.mode === 'AccessExclusiveLock')) backfillsOwnLock = true;
            }
            if (dml) continue;
            for (const canonical of danger.relations ?? []) {
              const target = run?.snapshot.targets.find((t) => targetFor([t], canonical));
              const name = target ? target.qualifiedName : null;
              if (name === null || !before.heap.has(name)) continue;
              const rewritten = before.heap.get(name) !== after.heap.get(name);
              const scanned = (after.scans.get(name) ?? 0) > (before.scans.get(name) ?? 0);
              // A rewrite always gives new storage; a scan is only visible on a table with rows.
              const wrong = danger.kind === 'rewrite' ? !rewritten : withRows.has(name) && !scanned && !rewritten;
              if (wrong) result.provablyWrong.push(`${statement.file}:${statement.line} ${danger.kind} of ${name}: ${statement.excerpt}`);
            }
          }
        }
        if (backfillsOwnLock) result.filesBackfillingUnderTheirOwnLock.push(file);
      } catch (error) {
        if (transactional) await client.query('ROLLBACK').catch(() => undefined);
        result.failedToApply.push(`${file}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  } finally {
    await client.end();
    await cluster.stop();
  }
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const dir = args.find((a, i) => !a.startsWith('--') && !(args[i - 1] ?? '').startsWith('--'));
  const option = (name: string): string | undefined => args[args.indexOf(name) + 1];
  if (!dir) {
    process.stderr.write('usage: node dist/bench/histories.js <migrations dir> [--runner diesel] [--limit n]\n');
    process.exitCode = 2;
  } else {
    replayHistory(dir, option('--runner') ?? 'auto', args.includes('--limit') ? Number(option('--limit')) : undefined).then(
      (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
      (error: unknown) => {
        process.stderr.write(`histories: ${(error as Error).stack ?? String(error)}\n`);
        process.exitCode = 2;
      },
    );
  }
}
