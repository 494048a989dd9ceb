import { AppError } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-codes';
import type { Param, RowSource } from './prepared-reads';

/** Pages up to this size share executions (the batch list's largest); a larger one runs alone. */
const MAX_SHARED_PAGE = 100;

export interface Page<T> {
  items: T[];
  hasMore: boolean;
}

/** A list of one workspace's items, as prepared statements (one per order, with and without a cursor). */
export interface KeysetList<T> {
  /** Its rows: entities (PreparedReads.entitySource) or their wire JSON (wireSource). */
  source: RowSource<T>;
  /** Statement names begin with it; it must name one `filter` and one source. */
  name: string;
  /** Conditions on the rows `t` beyond the workspace, e.g. p => ` AND t.purpose = ${p(2)}`, with their values. */
  filter: (param: Param) => string;
  values: unknown[];
  /** The PostgreSQL type of each of `values`. */
  types: string[];
}

export interface PageRequest {
  limit: number;
  after?: string;
  direction: 'ASC' | 'DESC';
  /** The caller's workspace: a cursor must be one of its items. */
  workspaceId: string;
  /** Whether the cursor names an item of the caller's workspace (asked only when a page comes back empty). */
  cursorExists: (id: string) => Promise<boolean>;
  /** How the item is named in an error: 'File', 'Batch'. */
  itemName: string;
}

/**
 * One page in (created_at, id) order, starting after the cursor: no item skipped or repeated.
 * One statement: an unknown cursor yields no rows, and only an empty page asks whether the cursor exists.
 */
export async function keysetPage<T>(list: KeysetList<T>, request: PageRequest): Promise<Page<T>> {
  const { after, direction } = request;
  const withCursor = after !== undefined;
  const statement = {
    name: `${list.name}.${direction.toLowerCase()}${withCursor ? '.after' : ''}`,
    types: ['text', ...list.types, ...(withCursor ? ['text'] : []), 'int'],
    text: keysetStatement(
      list.source.select,
      list.source.table,
      list.filter,
      direction,
      withCursor,
      list.values.length + 2,
    ),
  };
  const values = [request.workspaceId, ...list.values, ...(withCursor ? [after] : []), request.limit + 1];
  // A large page would hold up the pages it shares an execution with, and gather their rows in one answer.
  const rows = await list.source.rows(statement, values, { alone: request.limit > MAX_SHARED_PAGE });
  if (rows.length === 0 && withCursor && !(await request.cursorExists(after))) {
    throw new AppError(
      ErrorCode.InvalidRequest,
      `Invalid 'after': no such ${request.itemName} object: ${after}`,
      'after',
    );
  }
  return { items: rows.slice(0, request.limit), hasMore: rows.length > request.limit };
}

/**
 * The text of one page in (created_at, id) order over the rows `t` of `table`, where value 1 is the workspace
 * and `filter` adds conditions with values from 2 up to `firstFree - 1`.
 * After a cursor, rows are kept strictly after the cursor's row, written as a row comparison, which PostgreSQL
 * can start an index range scan with (an OR of two conditions it cannot), against the cursor's own columns read
 * in SQL: a JavaScript Date would cut created_at's microseconds to milliseconds. A cursor that is not a row of
 * the workspace compares with NULL: no row passes.
 */
export function keysetStatement(
  select: string,
  table: string,
  filter: (param: Param) => string,
  direction: 'ASC' | 'DESC',
  withCursor: boolean,
  firstFree: number,
): (param: Param) => string {
  return (param) => {
    const cursor = withCursor
      ? ` AND (t.created_at, t.id) ${direction === 'ASC' ? '>' : '<'} (SELECT c.created_at, c.id FROM ${table} c WHERE c.id = ${param(firstFree)} AND c.workspace_id = ${param(1)})`
      : '';
    const limit = param(withCursor ? firstFree + 1 : firstFree);
    return `${select} WHERE t.workspace_id = ${param(1)}${filter(param)}${cursor} ORDER BY t.created_at ${direction}, t.id ${direction} LIMIT ${limit}`;
  };
}
