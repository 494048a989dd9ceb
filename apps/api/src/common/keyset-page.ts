import type { Param } from './prepared-reads';

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
