import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { checkOf, findingsOf, gate, session, useCluster } from './helpers.js';

// 20 slots, 3 reserved for superusers: 17 usable (reserved_connections is 0 on 16+).
const cluster = useCluster({ settings: { max_connections: 20, superuser_reserved_connections: 3 } });
const open: pg.Client[] = [];

async function fillTo(count: number): Promise<void> {
  while (open.length < count) open.push(await session(cluster(), `conn-filler-${open.length}`));
}

describe('connections', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY)');
  });
  afterAll(async () => {
    for (const client of open.splice(0)) await client.end().catch(() => undefined);
  });

  it('passes with plenty of headroom', async () => {
    const report = await gate(cluster(), { only: ['connections'] });
    expect(checkOf(report, 'connections').status).toBe('pass');
    expect(findingsOf(report, 'connections', 'connections')[0]).toMatchObject({ severity: 'info', details: { inUse: 0, usable: 17, maxConnections: 20, reserved: 3 } });
  });

  it('warns at 80 % of the usable slots', async () => {
    await fillTo(14);
    const report = await gate(cluster(), { only: ['connections'] });
    expect(checkOf(report, 'connections').status).toBe('warn');
    expect(findingsOf(report, 'connections', 'connections')[0]).toMatchObject({ severity: 'warn', details: { inUse: 14, usable: 17, percent: 82 } });
  });

  it('fails at 95 % (here: every usable slot taken)', async () => {
    // The thresholds are flags (percentages, at most 100): at 82 % a 90 % warning passes.
    const relaxed = await gate(cluster(), { only: ['connections'], flags: { 'connections-warn': '90', 'connections-fail': '100' } });
    expect(checkOf(relaxed, 'connections').status).toBe('pass');
    await fillTo(17);
    const report = await gate(cluster(), { only: ['connections'] });
    expect(checkOf(report, 'connections').status).toBe('fail');
    expect(findingsOf(report, 'connections', 'connections')[0]).toMatchObject({ severity: 'fail', details: { inUse: 17, usable: 17, percent: 100 } });
  });
});
