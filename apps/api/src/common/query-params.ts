import { AppError, ErrorCode } from '@app/core';

/** A parameter as Express's query parser (`simple`) gives it: a string, an array when repeated, or absent. */
export type RawQueryValue = string | string[] | undefined;

export type QueryParamRead<T> = (raw: RawQueryValue) => { value: T } | { problem: string };

export interface QueryParam<T> {
  read: QueryParamRead<T>;
}

/** An optional string (IsOptional + IsString): a repeated parameter is an array, so not a string. */
export function textParam(message: string): QueryParam<string | undefined> {
  return {
    read: (raw) => (raw === undefined || typeof raw === 'string' ? { value: raw } : { problem: message }),
  };
}

/** An optional integer in [min, max], `fallback` when absent, converted as class-transformer's Number type did. */
export function integerParam(min: number, max: number, fallback: number, message: string): QueryParam<number> {
  return {
    read: (raw) => {
      if (raw === undefined) {
        return { value: fallback };
      }
      const value = typeof raw === 'string' ? Number(raw) : NaN;
      return Number.isInteger(value) && value >= min && value <= max ? { value } : { problem: message };
    },
  };
}

/** One of `choices`, `fallback` when absent (IsOptional + IsIn). */
export function choiceParam<C extends string>(
  choices: readonly C[],
  fallback: C,
  message: (value: string) => string,
): QueryParam<C> {
  return {
    read: (raw) => {
      if (raw === undefined) {
        return { value: fallback };
      }
      return typeof raw === 'string' && (choices as readonly string[]).includes(raw)
        ? { value: raw as C }
        : { problem: message(String(raw)) };
    },
  };
}

export type QueryParams = Record<string, QueryParam<unknown>>;

/**
 * The values of `params` from a raw query, other parameters ignored (as the validation pipe's whitelist did).
 * The first parameter in `params` order that is wrong is the 400, with `param` naming it.
 *
 * Read straight from Express's parsed query, not through class-transformer and class-validator: lists are
 * polled, and those build an instance and look up every decorator's metadata on each request. The rules and 400
 * messages are those the decorators had (page-query.spec.ts holds them).
 */
export function readQuery(params: QueryParams, raw: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const name in params) {
    const read = params[name].read(Object.hasOwn(raw, name) ? (raw[name] as RawQueryValue) : undefined);
    if ('problem' in read) {
      throw new AppError(ErrorCode.InvalidRequest, read.problem, name);
    }
    if (read.value !== undefined) {
      values[name] = read.value;
    }
  }
  return values;
}

/** A query DTO class that reads itself: the api's validation pipe hands its query to `parseQuery`. */
export interface SelfReadingQuery {
  parseQuery(raw: object): object;
}

export function isSelfReadingQuery(metatype: unknown): metatype is SelfReadingQuery {
  return typeof metatype === 'function' && typeof (metatype as Partial<SelfReadingQuery>).parseQuery === 'function';
}
