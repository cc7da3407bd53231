// Statements sent together: one write, one round trip, however many statements. The
// client pipelines (connect() in src/core/connection.ts makes it so): each statement goes
// out as its own extended-protocol message group (Parse/Bind/Describe/Execute/Sync), or as a
// simple Query when it has no parameters, and every one is answered on its own. Inputs stay
// bind parameters, never text spliced into SQL. Inside an explicit transaction (the
// snapshot's BEGIN ... COMMIT), a statement that fails makes the ones after it fail with
// "current transaction is aborted", and COMMIT then rolls back: the transaction always ends,
// and each statement's outcome comes back separately, so the first real error can be told.
import type pg from 'pg';

export interface Statement {
  text: string;
  values?: readonly unknown[];
}

export type Row = Record<string, unknown>;

export type Outcome = { ok: true; rows: Row[]; results: pg.QueryResult<Row>[] } | { ok: false; error: unknown };

/** The stream under a pg client, where writes can be corked into one. */
function streamOf(client: pg.Client): { cork?: () => void; uncork?: () => void } | undefined {
  return (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
}

function send(client: pg.Client, statement: Statement): Promise<Outcome> {
  return client.query<Row>(statement.values && statement.values.length > 0 ? { text: statement.text, values: [...statement.values] } : statement.text).then(
    (result): Outcome => {
      // A simple Query with several statements answers with one result per statement.
      const results = Array.isArray(result) ? (result as pg.QueryResult<Row>[]) : [result];
      return { ok: true, rows: results.at(-1)?.rows ?? [], results };
    },
    (error: unknown): Outcome => ({ ok: false, error }),
  );
}

/**
 * Sends the statements at once and waits for every outcome, in order. Never rejects. A
 * client that does not pipeline (one made elsewhere) gets them one after the other.
 */
export async function sendBatch(client: pg.Client, statements: readonly Statement[]): Promise<Outcome[]> {
  if (!client.pipeline) {
    const outcomes: Outcome[] = [];
    for (const statement of statements) outcomes.push(await send(client, statement));
    return outcomes;
  }
  const stream = streamOf(client);
  // One write for the whole batch: pg writes each statement's messages on its own.
  stream?.cork?.();
  let pending: Promise<Outcome>[];
  try {
    pending = statements.map((statement) => send(client, statement));
  } finally {
    stream?.uncork?.();
  }
  return Promise.all(pending);
}

/** "current transaction is aborted": the statement did not run because an earlier one failed. */
export function isAfterFailure(outcome: Outcome): boolean {
  return !outcome.ok && (outcome.error as { code?: string }).code === '25P02';
}

/** The first error among the outcomes that is not the consequence of an earlier one. */
export function firstError(outcomes: readonly Outcome[]): unknown {
  for (const outcome of outcomes) if (!outcome.ok && !isAfterFailure(outcome)) return outcome.error;
  return undefined;
}
