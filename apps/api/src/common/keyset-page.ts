import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

export interface PageCursor {
  createdAt: Date;
  id: string;
}

/**
 * Keeps only rows strictly after `cursor` in (created_at, id) order. Written as a row comparison,
 * which PostgreSQL can start an index range scan with (an OR of two conditions it cannot).
 */
export function afterCursor<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  alias: string,
  cursor: PageCursor,
  direction: 'ASC' | 'DESC',
): SelectQueryBuilder<T> {
  const op = direction === 'ASC' ? '>' : '<';
  return query.andWhere(`(${alias}.created_at, ${alias}.id) ${op} (:cursorAt, :cursorId)`, {
    cursorAt: cursor.createdAt,
    cursorId: cursor.id,
  });
}
