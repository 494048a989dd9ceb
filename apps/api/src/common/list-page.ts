import { type Type } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { AppError, ErrorCode } from '@app/core';
import { afterCursor } from './keyset-page';

export interface Page<T> {
  items: T[];
  hasMore: boolean;
}

export interface PageRequest {
  limit: number;
  after?: string;
  direction: 'ASC' | 'DESC';
  /** Whether the cursor names an item of the caller's workspace. */
  cursorExists: (id: string) => Promise<boolean>;
  /** How the item is named in an error: 'File', 'Batch'. */
  itemName: string;
}

/** One page of `query` in (created_at, id) order, starting after the cursor: no item skipped or repeated. */
export async function keysetPage<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  alias: string,
  request: PageRequest,
): Promise<Page<T>> {
  query
    .orderBy(`${alias}.created_at`, request.direction)
    .addOrderBy(`${alias}.id`, request.direction)
    .take(request.limit + 1);
  if (request.after !== undefined) {
    if (!(await request.cursorExists(request.after))) {
      throw new AppError(
        ErrorCode.InvalidRequest,
        `Invalid 'after': no such ${request.itemName} object: ${request.after}`,
        'after',
      );
    }
    afterCursor(query, alias, request.after, request.direction);
  }
  const rows = await query.getMany();
  return { items: rows.slice(0, request.limit), hasMore: rows.length > request.limit };
}

export interface ListEnvelope<T> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** The OpenAI list envelope around one item type, documented for Swagger. */
export function ListDto<T extends { id: string }>(item: Type<T>) {
  class List implements ListEnvelope<T> {
    @ApiProperty({ enum: ['list'] }) object!: 'list';
    @ApiProperty({ type: [item] }) data!: T[];
    @ApiProperty({ nullable: true, type: String }) first_id!: string | null;
    @ApiProperty({ nullable: true, type: String }) last_id!: string | null;
    @ApiProperty() has_more!: boolean;

    static of(data: T[], hasMore: boolean): ListEnvelope<T> {
      return {
        object: 'list',
        data,
        first_id: data[0]?.id ?? null,
        last_id: data.at(-1)?.id ?? null,
        has_more: hasMore,
      };
    }
  }
  return List;
}
