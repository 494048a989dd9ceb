import Redis from 'ioredis';
import { Client } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type PrivatePostgres,
  type PrivateRedis,
  startPrivatePostgres,
  startPrivateRedis,
} from '../support/private-services';

/** The fault harness itself: the outage tests are only as trustworthy as these stops and restarts. */
describe('Private services for fault tests', () => {
  let postgres: PrivatePostgres | undefined;
  let redis: PrivateRedis | undefined;

  afterAll(async () => {
    await redis?.stop();
    await postgres?.destroy();
  });

  it('PostgreSQL: a private cluster that stops, refuses connections, and starts again with its data', async () => {
    postgres = await startPrivatePostgres();
    expect(postgres.port).not.toBe(5432);
    await query(postgres.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');

    await postgres.stop();
    await expect(query(postgres.url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);

    await postgres.start();
    expect(await query(postgres.url, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);
  });

  it('Redis: a private server that freezes every client for the pause, and restarts empty on the same port', async () => {
    redis = await startPrivateRedis();
    expect(redis.port).not.toBe(6379);
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    try {
      await client.set('kept', 'before');

      await redis.pause(1_000);
      const started = Date.now();
      expect(await client.get('kept')).toBe('before');
      expect(Date.now() - started).toBeGreaterThanOrEqual(800);

      await redis.restartEmpty();
      // The same client reconnects to the new server on the same port and finds nothing.
      expect(await client.get('kept')).toBeNull();
    } finally {
      client.disconnect();
    }
  });
});

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query(sql);
    return Array.isArray(result) ? result.at(-1).rows : result.rows;
  } finally {
    await client.end();
  }
}
