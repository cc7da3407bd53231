import { beforeAll, describe, expect, it } from 'vitest';
import { checkOf, findingsOf, gate, session, useCluster } from './helpers.js';

const cluster = useCluster();

describe('invalid-indexes', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, code text); CREATE TABLE other (id int, code text); INSERT INTO orders SELECT g, CASE WHEN g <= 2 THEN \'dup\' ELSE g::text END FROM generate_series(1, 100) g; INSERT INTO other VALUES (1, \'a\'), (2, \'a\')');
  });

  it('passes when every index on the table is valid', async () => {
    const report = await gate(cluster(), { only: ['invalid-indexes'] });
    expect(checkOf(report, 'invalid-indexes').status).toBe('pass');
    expect(findingsOf(report, 'invalid-indexes')).toEqual([]);
  });

  it('warns on the invalid index a failed CREATE UNIQUE INDEX CONCURRENTLY leaves, with the DROP INDEX CONCURRENTLY to run', async () => {
    const client = await session(cluster(), 'invalid-builder');
    try {
      await expect(client.query('CREATE UNIQUE INDEX CONCURRENTLY orders_code_key ON orders (code)')).rejects.toThrow(/could not create unique index/);
      await expect(client.query('CREATE UNIQUE INDEX CONCURRENTLY other_code_key ON other (code)')).rejects.toThrow(/could not create unique index/);
    } finally {
      await client.end();
    }
    const report = await gate(cluster(), { only: ['invalid-indexes'] });
    expect(checkOf(report, 'invalid-indexes').status).toBe('warn');
    const findings = findingsOf(report, 'invalid-indexes', 'invalid-index');
    // Only the target's: other_code_key is invalid too, on another table.
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ severity: 'warn', target: 'public.orders', relation: 'public.orders_code_key', details: { unique: true, beingBuilt: false } });
    expect(findings[0]?.remediation?.sql).toBe('DROP INDEX CONCURRENTLY public.orders_code_key;');
    // The remediation works and clears the finding.
    await cluster().sql('DROP INDEX CONCURRENTLY public.orders_code_key');
    const after = await gate(cluster(), { only: ['invalid-indexes'] });
    expect(checkOf(after, 'invalid-indexes').status).toBe('pass');
  });
});
