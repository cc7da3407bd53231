// The backfill's pure parts: key and --start-after parsing, the resume command, the replica
// verdict (NULLs never read as zero), the advisory lock key, plan checks and the shape
// check of the operator's fragments.
import { describe, expect, it } from 'vitest';
import { advisoryLockKey, ADVISORY_LOCK_CLASS_ID, ReplicaWatch } from '../src/backfill/index.js';
import { tableName, updateSql, upperKeySql, keyColumns } from '../src/backfill/batch.sql.js';
import { formatStartAfter, parseStartAfter, shellCommand } from '../src/backfill/resume.js';
import { checkScan } from '../src/backfill/runner.js';
import { checkUpdateShape } from '../src/backfill/shape.js';
import { parseKeyList } from '../src/backfill/target.js';
import { resumeCommand } from '../src/cli/commands/backfill.js';

const limits = { maxLagBytes: 10 * 1024 * 1024, maxLagMs: 10_000, includeLogical: false, ignore: [] as string[] };
const row = (over: Record<string, unknown> = {}) => ({
  pid: 100, application: 'standby1', client: '10.0.0.2', state: 'streaming', sync_state: 'async', slot: null, kind: 'physical',
  replay_lag_bytes: 0, replay_lag_seconds: null, ...over,
}) as never;

describe('replica verdict', () => {
  it('passes a caught-up standby whose replay_lag is NULL or stale', () => {
    const watch = new ReplicaWatch(limits);
    expect(watch.evaluate([row({ replay_lag_bytes: 0, replay_lag_seconds: null })]).ok).toBe(true);
    // A stale replay_lag with nothing outstanding is not lag.
    expect(watch.evaluate([row({ replay_lag_bytes: 0, replay_lag_seconds: 30 })]).ok).toBe(true);
  });

  it('never reads a NULL replay position as zero', () => {
    const verdict = new ReplicaWatch(limits).evaluate([row({ replay_lag_bytes: null })]);
    expect(verdict.ok).toBe(false);
    expect(verdict.lagging).toEqual([{ name: 'standby1', reason: 'no replay position reported yet' }]);
  });

  it('holds on bytes over --max-lag, on time over --max-lag-time, and on a replica that is not streaming', () => {
    const watch = new ReplicaWatch(limits);
    expect(watch.evaluate([row({ replay_lag_bytes: 11 * 1024 * 1024 })]).lagging[0]?.reason).toBe('replay lag 11 MB > --max-lag 10 MB');
    expect(watch.evaluate([row({ replay_lag_bytes: 4096, replay_lag_seconds: 12 })]).lagging[0]?.reason).toBe('replay lag 12s > --max-lag-time 10s');
    expect(watch.evaluate([row({ replay_lag_bytes: 4096, replay_lag_seconds: null })]).ok).toBe(true);
    expect(watch.evaluate([row({ state: 'catchup' })]).lagging[0]?.reason).toBe('not streaming (state catchup)');
  });

  it('counts a replica that left pg_stat_replication as lagging until it is back', () => {
    const watch = new ReplicaWatch(limits);
    expect(watch.evaluate([row()]).ok).toBe(true);
    const gone = watch.evaluate([]);
    expect(gone.ok).toBe(false);
    expect(gone.lagging[0]).toMatchObject({ name: 'standby1', reason: expect.stringMatching(/^disconnected/) });
    expect(watch.evaluate([row({ pid: 200 })]).ok).toBe(true);
  });

  it('watches logical walsenders only when asked, never base backups, and skips ignored replicas', () => {
    const logical = row({ application: 'sub1', kind: 'logical', slot: 'sub1', replay_lag_bytes: 99 * 1024 * 1024 });
    expect(new ReplicaWatch(limits).evaluate([logical]).ok).toBe(true);
    expect(new ReplicaWatch({ ...limits, includeLogical: true }).evaluate([logical]).ok).toBe(false);
    expect(new ReplicaWatch(limits).evaluate([row({ state: 'backup', replay_lag_bytes: null })]).ok).toBe(true);
    expect(new ReplicaWatch({ ...limits, ignore: ['standby1'] }).evaluate([row({ replay_lag_bytes: null })]).ok).toBe(true);
  });

  it('refuses to judge a replica whose state the role cannot see', () => {
    expect(() => new ReplicaWatch(limits).evaluate([row({ state: null, replay_lag_bytes: null })])).toThrow(/needs pg_monitor .* --ignore-replica standby1/);
  });
});

describe('keys and resuming', () => {
  it('parses --key like SQL identifiers', () => {
    expect(parseKeyList('id')).toEqual(['id']);
    expect(parseKeyList('Region, ID')).toEqual(['region', 'id']);
    expect(parseKeyList('"Odd,Name",id')).toEqual(['Odd,Name', 'id']);
    expect(() => parseKeyList('id,')).toThrow(/ends with a comma/);
    expect(() => parseKeyList('id,id')).toThrow(/named twice/);
  });

  it('takes --start-after as the value for one column, as a JSON array for several', () => {
    expect(parseStartAfter('41999', ['id'])).toEqual(['41999']);
    expect(parseStartAfter('["eu",1042]', ['region', 'id'])).toEqual(['eu', '1042']);
    expect(() => parseStartAfter('eu,1042', ['region', 'id'])).toThrow(/JSON array of 2 values/);
    expect(formatStartAfter(['eu', '1042'])).toBe('["eu","1042"]');
  });

  it('prints a resume command a shell reads back exactly, without --url', () => {
    const args = { url: 'postgresql://u:secret@db/x', table: 'orders', set: "note = 'it''s'", where: 'note IS NULL', 'batch-size': '500', 'include-logical': true, 'ignore-replica': ['a', 'b c'] };
    expect(resumeCommand(args, '["eu","1042"]')).toBe(
      `pgpreflight backfill --table orders --set 'note = '\\''it'\\'''\\''s'\\''' --where 'note IS NULL' --batch-size 500 --include-logical --ignore-replica a --ignore-replica 'b c' --start-after '["eu","1042"]'`,
    );
    expect(shellCommand(['a b', "it's", 'plain-1.2'])).toBe(`'a b' 'it'\\''s' plain-1.2`);
    // psql's connection options come along, except a -d that is a whole connection string.
    expect(resumeCommand({ host: 'db1', port: '6543', username: 'deploy', dbname: 'shop', table: 't', set: 'v = 1' }, '7')).toBe('pgpreflight backfill --host db1 --port 6543 --username deploy --dbname shop --table t --set \'v = 1\' --start-after 7');
    expect(resumeCommand({ dbname: 'host=db1 password=secret', table: 't', set: 'v = 1' }, '7')).toBe("pgpreflight backfill --table t --set 'v = 1' --start-after 7");
  });

  it('derives the advisory lock key from the table oid, wrapping oids above 2^31 like oid::int4', () => {
    expect(ADVISORY_LOCK_CLASS_ID).toBe(1885827174);
    expect(advisoryLockKey(16384)).toEqual([1885827174, 16384]);
    expect(advisoryLockKey(4294967295)).toEqual([1885827174, -1]);
  });
});

describe('batch statements', () => {
  const table = tableName('public', 'orders');
  const key = keyColumns(['region', 'id']);

  it('walks the key qualified, so ORDER BY never sorts by the text output column', () => {
    expect(upperKeySql(table, key, true)).toBe(
      'SELECT t."region"::text AS k0, t."id"::text AS k1 FROM ONLY "public"."orders" AS t WHERE (t."region", t."id") > ($1, $2) ORDER BY t."region", t."id" LIMIT 1 OFFSET $3',
    );
  });

  it('accepts the fragments when the UPDATE keeps its shape', async () => {
    const sql = updateSql(table, keyColumns(['id']), "priority = 0, note = 'x' -- a comment", 'priority IS NULL OR priority < 0', true);
    await expect(checkUpdateShape({ sql, table, rangeConditions: 2, hasWhere: true })).resolves.toBeUndefined();
  });

  it.each([
    ['priority = 0', 'x IS NULL) OR (true', /not one expression/],
    ['priority = 0', 'x IS NULL) AND (true', /not one expression/],
    ['priority = 0', 'id > $1', /\$n parameters/],
    ['priority = 0 RETURNING *', null, /syntax error/],
    ['priority = 0; DELETE FROM orders', null, /syntax error|statements/],
    ['priority = 0', 'x IS NUL', /syntax error at or near "NUL"/],
  ])('rejects --set %j --where %j', async (set, where, message) => {
    const sql = updateSql(table, keyColumns(['id']), set, where, true);
    await expect(checkUpdateShape({ sql, table, rangeConditions: 2, hasWhere: where !== null })).rejects.toThrow(message);
  });
});

describe('plan checks', () => {
  const target = { table: tableName('public', 'orders'), keyIndex: 'orders_pkey' };
  const update = (scan: object) => ({ 'Node Type': 'ModifyTable', 'Relation Name': 'orders', Schema: 'public', Plans: [scan] });

  it('accepts an index range scan and a bitmap scan of the key index', () => {
    expect(checkScan(update({ 'Node Type': 'Index Scan', 'Relation Name': 'orders', Schema: 'public', 'Index Name': 'orders_pkey', 'Index Cond': '(id <= 5)' }), target).ok).toBe(true);
    const bitmap = { 'Node Type': 'Bitmap Heap Scan', 'Relation Name': 'orders', Schema: 'public', Plans: [{ 'Node Type': 'Bitmap Index Scan', 'Index Name': 'orders_pkey', 'Index Cond': '(id <= 5)' }] };
    expect(checkScan(update(bitmap), target)).toMatchObject({ ok: true, scan: 'Bitmap Heap Scan on Bitmap Index Scan using orders_pkey' });
  });

  it('rejects a sequential scan, another index, and a sort', () => {
    expect(checkScan(update({ 'Node Type': 'Seq Scan', 'Relation Name': 'orders', Schema: 'public' }), target).problem).toMatch(/Seq Scan/);
    expect(checkScan(update({ 'Node Type': 'Index Scan', 'Relation Name': 'orders', Schema: 'public', 'Index Name': 'orders_priority', 'Index Cond': 'x' }), target).problem).toMatch(/through orders_pkey/);
    const sorted = { 'Node Type': 'Limit', Plans: [{ 'Node Type': 'Sort', Plans: [{ 'Node Type': 'Index Only Scan', 'Relation Name': 'orders', Schema: 'public', 'Index Name': 'orders_pkey' }] }] };
    expect(checkScan(sorted, target, false).problem).toMatch(/sorts/);
  });
});
