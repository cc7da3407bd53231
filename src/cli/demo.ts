// `pgpreflight demo`: the main job on a throwaway server, no database of the user's needed.
// It stages the classic outage: a forgotten `BEGIN; SELECT ...` holds a lock on orders,
// an ALTER TABLE queues behind it, and the gate turns from pass to fail.
import { CHECKS } from '../../checks/index.js';
import type { Io } from './commands/types.js';
// The embedded backend only: the demo must not load testcontainers.
import { startEmbeddedCluster } from '../clusters/embedded.js';
import type { Cluster } from '../clusters/types.js';
import { resolveConnection } from '../core/connection.js';
import { resolveCheckOptions } from '../gate/check-options.js';
import { exitCodeFor, runOnce } from '../gate/runner.js';
import { gateOfReport } from '../gate/gate.js';
import type { TableRequest } from '../gate/snapshot.js';

export async function runDemo(io: Io): Promise<number> {
  const say = (line: string): void => {
    io.stdout.write(`${line}\n`);
  };
  const color = Boolean(io.stdout.isTTY) && io.env.NO_COLOR === undefined;
  const { default: table } = await import('../reporters/table.js');
  let cluster: Cluster | undefined;
  const onSignal = (): void => {
    void (cluster?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say('Starting a throwaway PostgreSQL on 127.0.0.1 ...');
    cluster = await startEmbeddedCluster();
    say(`PostgreSQL ${cluster.major} is up on port ${cluster.port}. Creating table orders, and giving the role a lock_timeout as we recommend ...`);
    await cluster.sql(`CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, total numeric(10,2), created_at timestamptz DEFAULT now());
      INSERT INTO orders (customer_id, total) SELECT g % 100, g FROM generate_series(1, 1000) g;
      ANALYZE orders;
      ALTER ROLE postgres SET lock_timeout = '4s';`);
    const tables: TableRequest[] = [{ input: 'orders', canonical: '"orders"', lockMode: 'AccessExclusiveLock' }];
    const options = resolveCheckOptions(CHECKS, {});
    const connection = resolveConnection(cluster.url(), {});
    const gate = async (title: string): Promise<number> => {
      const { report } = await runOnce({ connection, tables, checks: CHECKS, options, timeoutMs: 10_000 });
      const exitCode = exitCodeFor(report.verdict);
      say(`\n$ pgpreflight check --table orders   # ${title}`);
      io.stdout.write(table(gateOfReport(report, exitCode), { color, width: io.stdout.columns }));
      return exitCode;
    };

    const first = await gate('a quiet server');

    say('\nStaging the outage: a psql session runs BEGIN; SELECT ... FROM orders; and is forgotten,');
    say('then a migration runs ALTER TABLE orders ADD COLUMN note text; and queues behind it.');
    const forgotten = await cluster.connect({ applicationName: 'psql' });
    await forgotten.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const migration = await cluster.connect({ applicationName: 'migration' });
    const alter = migration.query("SET lock_timeout = '60s'; ALTER TABLE orders ADD COLUMN note text").catch((error: Error) => error);
    await waitForWaiter(cluster);
    const second = await gate('a forgotten transaction and a queued ALTER');

    say('\nReleasing the forgotten session (ROLLBACK); the ALTER gets its lock and finishes.');
    await forgotten.query('ROLLBACK');
    await alter;
    await forgotten.end();
    await migration.end();
    const third = await gate('after the blocker left');

    say(`\nThe gate exited ${first}, then ${second} (deploy blocked), then ${third}. Tearing down the throwaway server.`);
    return first === 0 && second === 1 && third === 0 ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cluster?.stop();
  }
}

async function waitForWaiter(cluster: Cluster): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    const { rows } = await cluster.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = 'migration' AND wait_event_type = 'Lock'");
    if (rows.length > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the staged ALTER TABLE never started waiting');
}
