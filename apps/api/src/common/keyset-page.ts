import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/**
 * Keeps only rows strictly after the row `cursorId` in (created_at, id) order. Written as a row comparison,
 * which PostgreSQL can start an index range scan with (an OR of two conditions it cannot), against the
 * cursor's own columns read in SQL: a JavaScript Date would cut created_at's microseconds to milliseconds.
 */
export function afterCursor<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  alias: string,
  cursorId: string,
  direction: 'ASC' | 'DESC',
): SelectQueryBuilder<T> {
  const op = direction === 'ASC' ? '>' : '<';
  const table = query.expressionMap.mainAlias?.metadata.tableName;
  if (!table) {
    throw new Error('afterCursor needs a query on an entity');
  }
  return query.andWhere(
    `(${alias}.created_at, ${alias}.id) ${op} (SELECT c.created_at, c.id FROM ${table} c WHERE c.id = :cursorId)`,
    { cursorId },
  );
}
