import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import DataLoader from 'dataloader';
import type { Pool } from 'pg';
import { DataSource, type EntityMetadata, type EntityTarget, type ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { CoreEnvironment } from '../../config/env';
import type { JsonOf, WireField, WireFields, WireOf, WireShape } from './wire-shape';

/** Where a statement's i-th value (from 1) appears in its text. */
export type Param = (position: number) => string;

/** A read requests run alike: its name, the PostgreSQL type of each value, and its text. */
export interface ReadStatement {
  name: string;
  types: readonly string[];
  text: (param: Param) => string;
}

/** At most this many requests share one execution; more wait for the next. */
const MAX_COALESCED = 100;

/** How a read runs: `alone` for one that may return many rows (a large page), which would hold up the others. */
export interface ReadOptions {
  alone?: boolean;
}

/** How the rows of one entity's table are read: its selectable columns, and how a row becomes an entity. */
interface EntityShape {
  select: string;
  table: string;
  hydrate(row: ObjectLiteral): ObjectLiteral;
}

/** One object as PostgreSQL wrote it: its id, and its JSON text (what `WireShape.toWire` makes, stringified). */
export interface WireRow<T = unknown> {
  id: string;
  json: JsonOf<T>;
}

/** Where a page's rows come from: the statement's start (`SELECT … FROM <table> t`), and how rows are read. */
export interface RowSource<T> {
  select: string;
  table: string;
  rows(statement: ReadStatement, values: unknown[], options?: ReadOptions): Promise<T[]>;
}

/**
 * The reads clients poll (a file, a batch, a page of them, a key) as named prepared statements on TypeORM's own
 * pool: PostgreSQL parses and plans each statement once per connection instead of on every request, and no query
 * is built per request. Writes, and reads inside a transaction, keep TypeORM. Repositories use it for their hot
 * reads; nothing outside them needs to know it exists.
 *
 * With READ_COALESCING on, the requests that run one statement in the same turn of the event loop share one
 * execution of it (a DataLoader per statement): their values go as arrays, and PostgreSQL runs the statement once
 * per request inside a LATERAL join (see coalescedText). Under load most of a read's cost is the round trip, not
 * the lookup, and one round trip then serves a turn's requests. Off, each read is its own execution.
 *
 * A name always stands for the same text (pg prepares it once per connection under that name); a pooler in
 * transaction mode in front of PostgreSQL must support prepared statements (PgBouncer 1.21+).
 */
@Injectable()
export class PreparedReads {
  private readonly pool: Pool;
  private readonly shapes = new Map<EntityTarget<ObjectLiteral>, EntityShape>();
  private readonly wires = new Map<WireShape<ObjectLiteral, WireFields<ObjectLiteral>>, CompiledWire>();
  private readonly loaders = new Map<string, DataLoader<unknown[], ObjectLiteral[]>>();
  private readonly queries = new Map<string, CoalescedQuery>();
  private readonly coalesce: boolean;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(CoreEnvironment) env: Pick<CoreEnvironment, 'READ_COALESCING'>,
  ) {
    this.pool = (dataSource.driver as PostgresDriver).master as Pool;
    this.coalesce = env.READ_COALESCING;
  }

  /** `SELECT <the entity's selectable columns> FROM <its table> t`: statements on an entity start with it. */
  selectFrom(target: EntityTarget<ObjectLiteral>): string {
    return this.shapeOf(target).select;
  }

  tableOf(target: EntityTarget<ObjectLiteral>): string {
    return this.shapeOf(target).table;
  }

  /** The statement's rows for these values, from the execution this turn's requests of it share (or its own). */
  async rows<R extends ObjectLiteral>(
    statement: ReadStatement,
    values: unknown[],
    options?: ReadOptions,
  ): Promise<R[]> {
    if (options?.alone || !this.coalesce) {
      const [rows] = await this.execute(this.queryOf(statement), [values]);
      return rows as R[];
    }
    return (await this.loaderOf(statement).load(values)) as R[];
  }

  /** Rows of a statement that starts with `selectFrom(target)`, as entities. */
  async entities<T extends ObjectLiteral>(
    target: EntityTarget<T>,
    statement: ReadStatement,
    values: unknown[],
    options?: ReadOptions,
  ): Promise<T[]> {
    const shape = this.shapeOf(target);
    return (await this.rows(statement, values, options)).map((row) => shape.hydrate(row) as T);
  }

  /** Rows of `target` as entities, for a statement that starts with `select`. */
  entitySource<T extends ObjectLiteral>(target: EntityTarget<T>): RowSource<T> {
    return {
      select: this.selectFrom(target),
      table: this.tableOf(target),
      rows: (statement, values, options) => this.entities(target, statement, values, options),
    };
  }

  /** Rows of a shape's entity as their wire JSON, written by PostgreSQL, for a statement that starts with `select`. */
  wireSource<E extends ObjectLiteral, F extends WireFields<E>>(shape: WireShape<E, F>): RowSource<WireRow<WireOf<F>>> {
    const wire = this.compiled(shape as unknown as WireShape<ObjectLiteral, WireFields<ObjectLiteral>>);
    return {
      select: wire.select,
      table: wire.table,
      rows: async (statement, values, options) =>
        (await this.rows(statement, values, options)).map((row) => wire.read(row) as WireRow<WireOf<F>>),
    };
  }

  private loaderOf(statement: ReadStatement): DataLoader<unknown[], ObjectLiteral[]> {
    let loader = this.loaders.get(statement.name);
    if (loader === undefined) {
      const query = this.queryOf(statement);
      loader = new DataLoader(
        async (requests: readonly unknown[][]) => {
          try {
            return await this.execute(query, requests);
          } catch (error) {
            if (requests.length === 1 || !isDataException(error)) {
              throw error;
            }
            // A value PostgreSQL refuses fails its own request, not the others it came with: each alone, in turn.
            const results: (ObjectLiteral[] | Error)[] = [];
            for (const values of requests) {
              results.push(
                await this.execute(query, [values]).then(
                  ([rows]) => rows,
                  (alone: Error) => alone,
                ),
              );
            }
            return results;
          }
        },
        // After the turn: the requests parsed in one poll of the sockets reach here in the callbacks that follow it.
        { cache: false, maxBatchSize: MAX_COALESCED, batchScheduleFn: (dispatch) => setImmediate(dispatch) },
      );
      this.loaders.set(statement.name, loader);
    }
    return loader;
  }

  private queryOf(statement: ReadStatement): CoalescedQuery {
    let query = this.queries.get(statement.name);
    if (query === undefined) {
      query = { name: statement.name, text: coalescedText(statement), width: statement.types.length };
      this.queries.set(statement.name, query);
    }
    return query;
  }

  /** One execution for these requests: the rows of each, in its order. */
  private async execute(query: CoalescedQuery, requests: readonly unknown[][]): Promise<ObjectLiteral[][]> {
    const columns = Array.from({ length: query.width }, (_, i) => requests.map((values) => values[i] ?? null));
    const { rows } = await this.pool.query<ObjectLiteral>({ name: query.name, text: query.text, values: columns });
    const results = requests.map((): ObjectLiteral[] => []);
    for (const row of rows) {
      results[(row.batch_n as number) - 1].push(row);
    }
    return results;
  }

  private compiled(shape: WireShape<ObjectLiteral, WireFields<ObjectLiteral>>): CompiledWire {
    let wire = this.wires.get(shape);
    if (wire === undefined) {
      wire = compileWire(this.dataSource.getMetadata(shape.entity), shape.fields);
      this.wires.set(shape, wire);
    }
    return wire;
  }

  private shapeOf(target: EntityTarget<ObjectLiteral>): EntityShape {
    let shape = this.shapes.get(target);
    if (shape === undefined) {
      shape = shapeOf(this.dataSource.getMetadata(target));
      this.shapes.set(target, shape);
    }
    return shape;
  }
}

interface CoalescedQuery {
  name: string;
  text: string;
  width: number;
}

/** PostgreSQL refused a value (SQLSTATE class 22: a NUL in text, a number out of range …), not the statement. */
const isDataException = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('22');
};

/**
 * One execution of a statement for many requests: the i-th value of every request goes in the array `$i`, and
 * the statement runs once per request (a LATERAL subquery) with `coalesced.p<i>` for its i-th value (so no
 * statement may name a table `coalesced`). Each row carries
 * the request it answers (`batch_n`, from 1) and comes in the statement's own order within it (`batch_row`).
 */
export function coalescedText({ name, types, text }: ReadStatement): string {
  if (types.length === 0) {
    throw new Error(`${name}: a coalesced read needs at least one value`);
  }
  const arrays = types.map((type, i) => `$${i + 1}::${type}[]`).join(', ');
  const columns = types.map((_, i) => `p${i + 1}`).join(', ');
  return (
    `SELECT coalesced.batch_n::int AS batch_n, found.* FROM unnest(${arrays}) WITH ORDINALITY AS coalesced(${columns}, batch_n) ` +
    `CROSS JOIN LATERAL (SELECT s.*, row_number() OVER () AS batch_row FROM (${text((i) => `coalesced.p${i}`)}) s) found ` +
    'ORDER BY coalesced.batch_n, found.batch_row'
  );
}

/** Hydrates as TypeORM would: each selected column's value, through its transformers (last one first). */
function shapeOf(metadata: EntityMetadata): EntityShape {
  const columns = metadata.columns
    .filter((column) => column.isSelect)
    .map((column) => ({
      column,
      transformers: [column.transformer ?? []].flat().reverse(),
    }));
  return {
    select: `SELECT ${columns.map(({ column }) => `t.${column.databaseName}`).join(', ')} FROM ${metadata.tableName} t`,
    table: metadata.tableName,
    hydrate(row) {
      const entity = metadata.create() as ObjectLiteral;
      for (const { column, transformers } of columns) {
        let value: unknown = row[column.databaseName];
        for (const transformer of transformers) {
          value = transformer.from(value);
        }
        column.setEntityValue(entity, value);
      }
      return entity;
    },
  };
}

/** A wire shape as a statement's select list, and how its row becomes a WireRow. */
interface CompiledWire {
  select: string;
  table: string;
  read(row: ObjectLiteral): WireRow;
}

/** A piece of a wire object's JSON text: text known now, an SQL expression of type text, or a jsonb field. */
type WirePiece = { text: string } | { sql: string } | { json: ColumnMetadata; write: (value: never) => unknown };

const sqlLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * The JSON text of `fields` as SQL: the pieces between jsonb fields are each one text expression (`w0`, `w1` …,
 * concatenations of literals and of columns encoded by to_json, which escapes strings exactly as JSON.stringify
 * does), and the jsonb columns (`j0` …) come back parsed for Node to write with JSON.stringify.
 */
function compileWire(metadata: EntityMetadata, fields: WireFields<ObjectLiteral>): CompiledWire {
  const pieces: WirePiece[] = [];
  objectPieces(metadata, fields, pieces);
  const segments: string[][] = [[]];
  const jsonFields: { column: ColumnMetadata; write: (value: never) => unknown }[] = [];
  let text = '';
  const flush = () => {
    if (text) {
      segments[segments.length - 1].push(sqlLiteral(text));
      text = '';
    }
  };
  for (const piece of pieces) {
    if ('text' in piece) {
      text += piece.text;
    } else if ('sql' in piece) {
      flush();
      segments[segments.length - 1].push(piece.sql);
    } else {
      flush();
      jsonFields.push({ column: piece.json, write: piece.write });
      segments.push([]);
    }
  }
  flush();
  const idColumn = metadata.findColumnWithPropertyName('id');
  if (!idColumn) {
    throw new Error(`${metadata.name} has no id column to page by`);
  }
  const select = [
    `t.${idColumn.databaseName} AS id`,
    ...segments.flatMap((segment, i) => [
      `${segment.join(' || ')} AS w${i}`,
      ...(i < jsonFields.length ? [`t.${jsonFields[i].column.databaseName} AS j${i}`] : []),
    ]),
  ].join(', ');
  return {
    select: `SELECT ${select} FROM ${metadata.tableName} t`,
    table: metadata.tableName,
    read(row) {
      let json = row.w0 as string;
      for (let i = 0; i < jsonFields.length; i++) {
        const { column, write } = jsonFields[i];
        json += JSON.stringify(write(fromColumn(column, row[`j${i}`]) as never)) + (row[`w${i + 1}`] as string);
      }
      return { id: row.id as string, json };
    },
  };
}

function objectPieces(metadata: EntityMetadata, fields: WireFields<ObjectLiteral>, pieces: WirePiece[]): void {
  pieces.push({ text: '{' });
  let first = true;
  for (const key in fields) {
    pieces.push({ text: `${first ? '' : ','}${JSON.stringify(key)}:` });
    fieldPieces(metadata, fields[key], pieces);
    first = false;
  }
  pieces.push({ text: '}' });
}

function fieldPieces(metadata: EntityMetadata, field: WireField<ObjectLiteral, unknown>, pieces: WirePiece[]): void {
  const column = (property: string, types: string[]) => {
    const found = metadata.findColumnWithPropertyName(property);
    const type = String(found?.type);
    if (!found || !found.isSelect || !types.includes(type)) {
      throw new Error(`${metadata.name}.${property}: a wire field needs a selectable ${types.join('/')} column`);
    }
    // A transformer would change the value on the TypeScript side only; bigints become numbers (bigintAsNumber).
    if (found.transformer && type !== 'bigint') {
      throw new Error(`${metadata.name}.${property}: a transformed ${type} column cannot be written by PostgreSQL`);
    }
    return found;
  };
  const orNull = (sql: string, nullable: boolean) => ({ sql: nullable ? `COALESCE(${sql}, 'null')` : sql });
  switch (field.kind) {
    case 'constant':
      pieces.push({ text: JSON.stringify(field.value) });
      return;
    case 'value': {
      const c = column(field.property, ['varchar', 'text', 'integer', 'bigint', 'boolean']);
      const text = c.type === 'varchar' || c.type === 'text';
      // Integers and booleans print alike in both; bigints stay below 2^53 (bigintAsNumber).
      pieces.push(orNull(text ? `to_json(t.${c.databaseName})::text` : `t.${c.databaseName}::text`, c.isNullable));
      return;
    }
    case 'seconds': {
      const c = column(field.property, ['timestamptz']);
      // unixSeconds floors milliseconds; flooring microseconds gives the same second.
      pieces.push(orNull(`floor(extract(epoch FROM t.${c.databaseName}))::bigint::text`, c.isNullable));
      return;
    }
    case 'sum': {
      const columns = field.properties.map((property) => column(property, ['integer', 'bigint']));
      if (columns.some((c) => c.isNullable)) {
        throw new Error(`${metadata.name}: a wire sum needs non-null columns`);
      }
      pieces.push({ sql: `(${columns.map((c) => `t.${c.databaseName}`).join(' + ')})::text` });
      return;
    }
    case 'object':
      objectPieces(metadata, field.fields, pieces);
      return;
    case 'json':
      pieces.push({ json: column(field.property, ['jsonb']), write: field.write });
      return;
  }
}

/** A column's value as the entity holds it: through its transformers, last one first, as TypeORM hydrates. */
function fromColumn(column: ColumnMetadata, value: unknown): unknown {
  for (const transformer of [column.transformer ?? []].flat().reverse()) {
    value = transformer.from(value);
  }
  return value;
}
