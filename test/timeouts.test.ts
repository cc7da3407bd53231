import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { checkOf, findingsOf, gate, session, useCluster } from './helpers.js';

const cluster = useCluster();
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
  await cluster().sql('ALTER ROLE postgres RESET lock_timeout; ALTER ROLE app_open RESET idle_in_transaction_session_timeout; ALTER DATABASE postgres RESET lock_timeout');
});

async function sessionAs(user: string): Promise<pg.Client> {
  const client = await session(cluster(), `timeouts-${user}`, { user });
  open.push(client);
  return client;
}

describe('timeouts', () => {
  beforeAll(async () => {
    await cluster().sql(`
      CREATE TABLE orders (id int PRIMARY KEY);
      CREATE ROLE app_guarded LOGIN; ALTER ROLE app_guarded SET idle_in_transaction_session_timeout = '30s';
      CREATE ROLE app_open LOGIN;
      CREATE ROLE migrator LOGIN; ALTER ROLE migrator IN DATABASE postgres SET lock_timeout = '3s';
      GRANT SELECT ON orders TO migrator`);
  });

  it('warns on the server defaults: lock_timeout 0 for the connecting role, and a role with sessions and no idle timeout', async () => {
    await sessionAs('app_open');
    await sessionAs('app_guarded');
    const report = await gate(cluster(), { only: ['timeouts'] });
    expect(checkOf(report, 'timeouts').status).toBe('warn');
    const lock = findingsOf(report, 'timeouts', 'lock-timeout')[0];
    expect(lock).toMatchObject({ severity: 'warn', user: 'postgres', details: { setting: 'lock_timeout', valueMs: 0, source: 'server' } });
    expect(lock?.remediation?.sql).toBe("ALTER ROLE postgres SET lock_timeout = '4s';");
    const idle = findingsOf(report, 'timeouts', 'idle-timeout-off');
    expect(idle.map((f) => f.user)).toEqual(['app_open']);
    expect(idle[0]).toMatchObject({ severity: 'warn', details: { sessions: 1, source: 'server', database: 'postgres' } });
    expect(idle[0]?.remediation?.sql).toBe("ALTER ROLE app_open SET idle_in_transaction_session_timeout = '1min';");
  });

  it('passes when the connecting role has a lock_timeout and every role with sessions an idle timeout', async () => {
    await cluster().sql("ALTER ROLE postgres SET lock_timeout = '4s'; ALTER ROLE app_open SET idle_in_transaction_session_timeout = '1min'");
    await sessionAs('app_open');
    await sessionAs('app_guarded');
    const report = await gate(cluster(), { only: ['timeouts'] });
    expect(checkOf(report, 'timeouts').status).toBe('pass');
    expect(findingsOf(report, 'timeouts', 'lock-timeout')[0]).toMatchObject({ severity: 'info', user: 'postgres', details: { valueMs: 4000, source: 'role' } });
    expect(findingsOf(report, 'timeouts', 'idle-timeout-off')).toEqual([]);
  });

  it('reads the role-in-database setting of the connecting role, and a database-wide one', async () => {
    const report = await gate(cluster(), { only: ['timeouts'], user: 'migrator' });
    expect(findingsOf(report, 'timeouts', 'lock-timeout')[0]).toMatchObject({ severity: 'info', user: 'migrator', details: { valueMs: 3000, source: 'role in database' } });
    await cluster().sql("ALTER DATABASE postgres SET lock_timeout = '2s'");
    const viaDatabase = await gate(cluster(), { only: ['timeouts'] });
    expect(findingsOf(viaDatabase, 'timeouts', 'lock-timeout')[0]).toMatchObject({ severity: 'info', user: 'postgres', details: { valueMs: 2000, source: 'database' } });
  });
});
