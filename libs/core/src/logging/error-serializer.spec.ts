import { DatabaseError } from 'pg';
import { pino } from 'pino';
import { QueryFailedError } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { serializeError } from './error-serializer';

const SECRET = 'whsec_0123456789abcdef';
const PASSWORD = 'hook-password-42';

/** What PostgreSQL answers to an insert a check constraint refuses: the detail quotes the whole row. */
function checkViolation(): DatabaseError {
  const error = new DatabaseError(
    'new row for relation "webhooks" violates check constraint "webhooks_events_check"',
    0,
    'error',
  );
  return Object.assign(error, {
    code: '23514',
    severity: 'ERROR',
    table: 'webhooks',
    schema: 'public',
    constraint: 'webhooks_events_check',
    detail: `Failing row contains (wh_1, ws_1, https://user:${PASSWORD}@example.com/, {}, ${SECRET}).`,
    where: `SQL statement "INSERT INTO webhooks VALUES ('${SECRET}')"`,
  });
}

const insertFailed = () =>
  new QueryFailedError(
    'INSERT INTO "webhooks"("id", "url", "secret") VALUES ($1, $2, $3)',
    ['wh_1', `https://user:${PASSWORD}@example.com/`, SECRET],
    checkViolation(),
  );

const logged = (value: unknown) => JSON.stringify(value);

describe('serializeError', () => {
  it('keeps where a statement failed, and none of its parameters, values or text', () => {
    const shown = serializeError(insertFailed()) as Record<string, unknown>;
    expect(shown).toMatchObject({
      type: 'QueryFailedError',
      code: '23514',
      constraint: 'webhooks_events_check',
      table: 'webhooks',
      message: 'PostgreSQL refused the statement: SQLSTATE 23514 (constraint webhooks_events_check, table webhooks)',
    });
    expect(shown.stack).toMatch(/^QueryFailedError: PostgreSQL refused the statement[^\n]*\n\s+at /);
    expect(logged(shown)).not.toMatch(new RegExp(`${SECRET}|${PASSWORD}|INSERT|Failing row|VALUES`));
  });

  it("redacts PostgreSQL's own error, and one wrapped as a cause, as pino-http hands it over too", () => {
    const wrapped = new Error('Could not create the webhook', { cause: insertFailed() });
    const viaPinoHttp = pino.stdSerializers.wrapErrorSerializer(
      (serialized) => serializeError(serialized) as Record<string, unknown>,
    );
    for (const error of [checkViolation(), wrapped]) {
      for (const shown of [serializeError(error), viaPinoHttp(error)]) {
        expect(logged(shown)).toMatch(/SQLSTATE 23514/);
        expect(logged(shown)).not.toMatch(new RegExp(`${SECRET}|${PASSWORD}|Failing row`));
      }
    }
    expect(serializeError(wrapped)).toMatchObject({ type: 'Error', message: 'Could not create the webhook' });
  });

  it("keeps the driver's message when PostgreSQL never answered, still without the parameters", () => {
    const dropped = new QueryFailedError('SELECT $1', [SECRET], new Error('Connection terminated unexpectedly'));
    const shown = serializeError(dropped);
    expect(shown).toMatchObject({
      message: 'The statement failed before PostgreSQL answered: Connection terminated unexpectedly',
    });
    expect(logged(shown)).not.toContain(SECRET);
  });

  it("leaves other errors as pino's own serializer shows them", () => {
    const error = Object.assign(new Error('disk on fire', { cause: new Error('smoke') }), { code: 'EIO' });
    expect(serializeError(error)).toEqual(pino.stdSerializers.err(error));
    expect(serializeError('not an error')).toBe('not an error');
  });
});
