import type { ObjectLiteral } from 'typeorm';
import { unixSeconds } from '../../time/unix-time';

/**
 * The wire shape of an object (the OpenAI File, the Batch): its keys in order and how each is made from the
 * entity. It is the one owner of that shape. `toWire` makes the object from an entity, and PreparedReads
 * compiles the same table into SQL that makes PostgreSQL write the object's JSON text for the reads clients
 * poll, so that Node neither hydrates entities nor serializes them there.
 * Both give the same bytes: JSON.stringify of `toWire(entity)` is the text the SQL writes (wire-shape tests).
 */
export type WireField<E, W> =
  | Constant<W>
  | { kind: 'value'; property: keyof E & string; wire?: W }
  | { kind: 'seconds'; property: keyof E & string; wire?: W }
  | { kind: 'sum'; properties: (keyof E & string)[]; wire?: W }
  | { kind: 'object'; fields: WireFields<E>; wire?: W }
  | { kind: 'json'; property: keyof E & string; write: (value: never) => W; wire?: W };

interface Constant<W> {
  kind: 'constant';
  value: W;
}

export type WireFields<E> = Record<string, WireField<E, unknown>>;

declare const holds: unique symbol;

/**
 * JSON text that is a T: what a handler sends when PostgreSQL wrote the JSON (see PreparedReads.wireSource), so
 * that its return type says what goes on the wire, not just `string`.
 */
export type JsonOf<T> = string & { readonly [holds]?: T };

/** The wire object a table of fields makes. */
export type WireOf<F> = { [K in keyof F]: F[K] extends WireField<never, infer W> ? W : never };

type KeysOf<E, V> = { [K in keyof E]: E[K] extends V ? K : never }[keyof E] & string;

/** Field builders for one entity: each says what the key holds and how the entity gives it. */
export function wireFields<E extends ObjectLiteral>() {
  return {
    constant: <const W extends string | null>(value: W): WireField<E, W> => ({ kind: 'constant', value }),
    /** A text, integer or boolean column as it is (JSON-encoded alike by PostgreSQL's to_json and JSON.stringify). */
    value: <K extends KeysOf<E, string | number | boolean | null>>(property: K): WireField<E, E[K]> => ({
      kind: 'value',
      property,
    }),
    /** A timestamptz column as unix seconds (floored); null stays null. */
    seconds: <K extends KeysOf<E, Date | null>>(
      property: K,
    ): WireField<E, null extends E[K] ? number | null : number> => ({
      kind: 'seconds',
      property,
    }),
    /** Integer columns added. */
    sum: (...properties: KeysOf<E, number>[]): WireField<E, number> => ({ kind: 'sum', properties }),
    object: <F extends WireFields<E>>(fields: F): WireField<E, WireOf<F>> => ({ kind: 'object', fields }),
    /**
     * A jsonb column, written by Node from its parsed value: PostgreSQL writes jsonb with spaces and its own key
     * order (shortest key first), JSON.stringify without spaces and integer-like keys first.
     */
    json: <K extends keyof E & string, W>(property: K, write: (value: E[K]) => W): WireField<E, W> => ({
      kind: 'json',
      property,
      write,
    }),
  };
}

export class WireShape<E extends ObjectLiteral, F extends WireFields<E>> {
  constructor(
    readonly entity: new () => E,
    readonly fields: F,
  ) {}

  toWire(entity: E): WireOf<F> {
    return writeObject(this.fields, entity) as WireOf<F>;
  }
}

function writeObject<E extends ObjectLiteral>(fields: WireFields<E>, entity: E): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  for (const key in fields) {
    wire[key] = writeField(fields[key], entity);
  }
  return wire;
}

function writeField<E extends ObjectLiteral>(field: WireField<E, unknown>, entity: E): unknown {
  switch (field.kind) {
    case 'constant':
      return field.value;
    case 'value':
      return entity[field.property];
    case 'seconds': {
      const date = entity[field.property] as Date | null;
      return date === null ? null : unixSeconds(date);
    }
    case 'sum':
      return field.properties.reduce((total, property) => total + (entity[property] as number), 0);
    case 'object':
      return writeObject(field.fields, entity);
    case 'json':
      return field.write(entity[field.property] as never);
  }
}
