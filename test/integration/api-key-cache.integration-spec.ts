import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateEnvironment } from '@app/core';
import { ApiKeyCache, type ResolvedKey } from '../../apps/api/src/auth/api-key-cache';
import { ApiEnvironment } from '../../apps/api/src/config/api-environment';
import { ApiRedis } from '../../apps/api/src/redis/api-redis';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';

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
    const deadline = Date.now() + 5000;
    for (;;) {
      cache.put('probe', key('probe'), cache.ticket());
      if (await cache.get('probe')) {
        break;
      }
      expect(Date.now(), 'the cache never started listening').toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
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
    const deadline = Date.now() + 2000;
    while (await b.get('hash-1')) {
      expect(Date.now(), 'replica b still serves the revoked key').toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await b.get('hash-2'))?.keyId).toBe('key_2');
  });

  it('does not keep a lookup that began before a revocation landed', async () => {
    const ticket = a.ticket(); // the lookup starts: it may read the key before its revocation commits
    expect(await b.announceRevocation('key_3')).toBe(true); // meanwhile the key is revoked elsewhere
    const deadline = Date.now() + 2000;
    while (a.ticket() === ticket) {
      expect(Date.now(), 'the announcement never reached replica a').toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    a.put('hash-3', key('key_3'), ticket); // the lookup ends with what it read
    expect(await a.get('hash-3')).toBeUndefined();
    a.put('hash-3', key('key_3'), a.ticket()); // a lookup begun after it is kept
    expect((await a.get('hash-3'))?.keyId).toBe('key_3');
  });
});
