// Proves, with PostgreSQL's own parser (libpg-query), that the operator's --set and
// --where fragments left the batch's UPDATE in the shape the backfill built: one UPDATE
// of the table whose WHERE is the key range AND the --where expression. A fragment that
// closes a parenthesis (`x) OR (true`), adds a statement, or refers to the batch's own
// parameters ($1) would otherwise turn one batch into an update of the whole table.
// A syntax error surfaces here too, before the server is asked anything.
import { PreflightError } from '../core/errors.js';
import type { TableName } from './batch.sql.js';

type ParseSync = (sql: string) => unknown;
let parserReady: Promise<ParseSync> | undefined;

/** Loads the WASM parser once (about as long as one connection takes). */
function parser(): Promise<ParseSync> {
  parserReady ??= import('libpg-query').then(async (lib) => {
    await lib.loadModule();
    return lib.parseSync as ParseSync;
  });
  return parserReady;
}

interface Node {
  [key: string]: unknown;
}

function contains(node: unknown, nodeType: string): boolean {
  if (Array.isArray(node)) return node.some((child) => contains(child, nodeType));
  if (node === null || typeof node !== 'object') return false;
  return Object.entries(node as Node).some(([key, value]) => key === nodeType || contains(value, nodeType));
}

export interface ShapeRequest {
  sql: string;
  table: TableName;
  /** How many key-range conditions the statement starts its WHERE with (1 or 2). */
  rangeConditions: number;
  hasWhere: boolean;
}

/** Throws a one-line PreflightError unless the statement is exactly the batch UPDATE it should be. */
export async function checkUpdateShape(request: ShapeRequest): Promise<void> {
  const parse = await parser();
  let result: { stmts?: { stmt?: Node }[] };
  try {
    result = parse(request.sql) as typeof result;
  } catch (error) {
    const message = (error as Error).message;
    throw new PreflightError(`--set/--where: ${message}: the fragments are SQL, run as given inside UPDATE ... SET <set> WHERE <key range> AND (<where>)`, { cause: error });
  }
  const fail = (why: string): never => {
    throw new PreflightError(`--set/--where: ${why}. Write --set as "column = expression[, ...]" and --where as one boolean expression`);
  };
  const statements = result.stmts ?? [];
  if (statements.length !== 1) fail(`the UPDATE became ${statements.length} statements`);
  const update = (statements[0]?.stmt as Node | undefined)?.UpdateStmt as Node | undefined;
  if (!update) return fail('the statement is no longer an UPDATE');
  const relation = update.relation as Node | undefined;
  if (relation?.relname !== request.table.name || relation?.schemaname !== request.table.schema) fail('the UPDATE no longer names the table');
  if (update.returningList !== undefined) fail('RETURNING is not allowed: the backfill does not read updated rows');
  if (update.withClause !== undefined) fail('WITH is not allowed');
  const where = update.whereClause as Node | undefined;
  const and = where?.BoolExpr as Node | undefined;
  const args: unknown[] = and?.boolop === 'AND_EXPR' ? ((and.args as unknown[] | undefined) ?? []) : where === undefined ? [] : [where];
  const expected = request.rangeConditions + (request.hasWhere ? 1 : 0);
  if (args.length !== expected) fail('--where is not one expression (it would change the key range the batch is limited to)');
  if (!args.slice(0, request.rangeConditions).every((arg) => contains(arg, 'ParamRef'))) fail('--where is not one expression');
  const operatorParts = [update.targetList, update.fromClause, ...(request.hasWhere ? [args.at(-1)] : [])];
  if (contains(operatorParts, 'ParamRef')) fail('$n parameters are the batch\'s key range, not for --set/--where');
}
