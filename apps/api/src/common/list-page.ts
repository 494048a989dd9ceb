import { type Type } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import type { JsonOf, Page, WireRow } from '@app/core';

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
      return listEnvelope(data, hasMore);
    }

    /** The JSON text of the list of items PostgreSQL wrote (see WireShape), each a T. */
    static json(page: Page<WireRow>): JsonOf<ListEnvelope<T>> {
      return listJson(page);
    }
  }
  return List;
}

function listEnvelope<T extends { id: string }>(data: T[], hasMore: boolean): ListEnvelope<T> {
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}

/** Stands for `data` while the envelope is stringified: no id holds U+0000 (PostgreSQL text cannot). */
const DATA = '\u0000data';

/** The envelope's JSON as JSON.stringify writes it, with the items' JSON text as `data`. */
function listJson(page: Page<WireRow>): string {
  const envelope = { ...listEnvelope(page.items, page.hasMore), data: DATA };
  // A function, not a replacement string: an item's text may hold `$&` and the like.
  return JSON.stringify(envelope).replace(
    JSON.stringify(DATA),
    () => `[${page.items.map((item) => item.json).join(',')}]`,
  );
}
