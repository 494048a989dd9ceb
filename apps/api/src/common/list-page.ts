import { type Type } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { AppError, ErrorCode } from '@app/core';
import { keysetStatement } from './keyset-page';
import type { Param, RowSource, WireRow } from './prepared-reads';

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

    /** The JSON text of the list of items PostgreSQL wrote (see WireShape). */
    static json(page: Page<WireRow>): string {
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
