import { DatabaseError } from 'pg';
import { pino } from 'pino';
import { QueryFailedError } from 'typeorm';

/** What a log keeps of a statement PostgreSQL refused: where it failed, not what it carried. */
const KEPT_FIELDS = ['code', 'constraint', 'table', 'column', 'dataType', 'schema'] as const;

/** Causes followed, as isTransientError follows them. */
const MAX_CAUSES = 4;

type DatabaseFailure = QueryFailedError | DatabaseError;

/**
 * pino's `err` serializer, except for a failed SQL statement in the error or its causes. TypeORM's
 * QueryFailedError carries the statement and its parameters (a webhook's `whsec_` secret, a key's hash, a URL and
 * its password), and like PostgreSQL's own error the `detail`, `where` and sometimes the message quote values
 * ("Key (url)=(…) already exists", "Failing row contains (…)", "invalid input syntax for type uuid: …"). Of such an
 * error the log keeps the SQLSTATE code, the constraint, table and column, and where the code stood (the stack's
 * frames).
 */
export function serializeError(value: unknown): unknown {
  // pino-http hands its `err` serializer what pino's made of the error: the error itself is its `raw`.
  const error = (value as { raw?: unknown } | null)?.raw ?? value;
  return failureIn(error) ? redacted(error, 0) : pino.stdSerializers.err(error as Error);
}

function redacted(error: unknown, depth: number): unknown {
  if (isDatabaseFailure(error)) {
    return summaryOf(error);
  }
  // An error wrapping the failure: its own message and frames (pino's would append the cause's message).
  const { name, message, stack, cause } = error as Error;
  return { type: name, message, stack, cause: depth < MAX_CAUSES ? redacted(cause, depth + 1) : undefined };
}

function summaryOf(failure: DatabaseFailure) {
  const driverError = failure instanceof QueryFailedError ? failure.driverError : failure;
  // QueryFailedError copies its driver error's fields onto itself.
  const fields = failure as unknown as Record<string, unknown>;
  const kept = Object.fromEntries(
    KEPT_FIELDS.filter((field) => typeof fields[field] === 'string').map((field) => [field, fields[field]]),
  ) as Partial<Record<(typeof KEPT_FIELDS)[number], string>>;
  const where = [
    kept.constraint && `constraint ${kept.constraint}`,
    kept.table && `table ${kept.table}`,
    kept.column && `column ${kept.column}`,
  ].filter(Boolean);
  const message =
    driverError instanceof DatabaseError
      ? `PostgreSQL refused the statement: SQLSTATE ${kept.code}${where.length ? ` (${where.join(', ')})` : ''}`
      : // Not PostgreSQL's answer but the driver's own text (a connection that dropped, a timeout): no values in it.
        `The statement failed before PostgreSQL answered: ${driverError.message}`;
  const type = failure.constructor.name;
  return { type, message, ...kept, stack: [`${type}: ${message}`, ...framesOf(failure.stack)].join('\n') };
}

/** The stack without its first lines, which repeat the message. */
const framesOf = (stack: string | undefined): string[] =>
  (stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));

function failureIn(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth <= MAX_CAUSES; depth++) {
    if (isDatabaseFailure(current)) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

const isDatabaseFailure = (error: unknown): error is DatabaseFailure =>
  error instanceof QueryFailedError || error instanceof DatabaseError;
