import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateEnvironment } from '@app/core';
import { ApiKeyCache, type ResolvedKey } from '../../apps/api/src/auth/api-key-cache';
import { ApiEnvironment } from '../../apps/api/src/config/api-environment';
import { ApiRedis } from '../../apps/api/src/redis/api-redis';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { waitUntil } from '../support/poll';

const env = validateEnvironment(ApiEnvironment, {
  DATABASE_URL: TEST_DATABASE_URL,
  REDIS_URL: TEST_REDIS_URL,
  STORAGE_DIR: '.',
});
const key = (keyId: string): ResolvedKey => ({ keyId, workspace: { id: 'ws_cache', name: 'cache' } });

/** Two api processes' key caches on one real Redis: what one revokes, the other drops; no stale lookup is kept. */
describe('Key cache', () => {
  const replicas: { redis: ApiRedis; cache: ApiKeyCache }[] = [];

  async function replica(): Promise<ApiKeyCache> {
    const redis = new ApiRedis(env);
    const cache = new ApiKeyCache(redis, env);
    cache.onModuleInit();
    replicas.push({ redis, cache });
    // Trusted once subscribed: until then nothing is kept.
    const keeps = async () => {
      cache.put('probe', key('probe'), cache.ticket());
      return (await cache.get('probe')) !== undefined;
    };
    await waitUntil(keeps, { what: 'the cache to start listening', timeoutMs: 5000, intervalMs: 10 });
    return cache;
  }

  let a: ApiKeyCache;
  let b: ApiKeyCache;
  beforeAll(async () => {
    [a, b] = [await replica(), await replica()];
  });
  afterAll(async () => {
    for (const { cache, redis } of replicas) {
      cache.onModuleDestroy();
      await redis.onModuleDestroy();
    }
  });

  it('a revocation announced by one replica evicts the key from the other', async () => {
    b.put('hash-1', key('key_1'), b.ticket());
    b.put('hash-2', key('key_2'), b.ticket());
    expect(await a.announceRevocation('key_1')).toBe(true);
    await waitUntil(async () => (await b.get('hash-1')) === undefined, {
      what: 'replica b to drop the revoked key',
      timeoutMs: 2000,
      intervalMs: 5,
    });
    expect((await b.get('hash-2'))?.keyId).toBe('key_2');
  });

  it('does not keep a lookup that began before a revocation landed', async () => {
    const ticket = a.ticket(); // the lookup starts: it may read the key before its revocation commits
    expect(await b.announceRevocation('key_3')).toBe(true); // meanwhile the key is revoked elsewhere
    await waitUntil(() => a.ticket() !== ticket, {
      what: 'the announcement to reach replica a',
      timeoutMs: 2000,
      intervalMs: 5,
    });
    a.put('hash-3', key('key_3'), ticket); // the lookup ends with what it read
    expect(await a.get('hash-3')).toBeUndefined();
    a.put('hash-3', key('key_3'), a.ticket()); // a lookup begun after it is kept
    expect((await a.get('hash-3'))?.keyId).toBe('key_3');
  });
});
